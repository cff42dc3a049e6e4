import { ContactInfo } from './contact-info.entity';
import { DeliveryEvent } from './delivery-event.entity';
import { Device } from './device.entity';
import { Message } from './message.entity';
import { Notification } from './notification.entity';
import { NotificationType } from './notification-type.entity';

export * from './enums';
export { ContactInfo, DeliveryEvent, Device, Message, Notification, NotificationType };
export { RenderedContent } from './message.entity';
export { Template } from './notification-type.entity';
export type { ContentValue, RecipientValue } from './notification.entity';

export const ENTITIES = [ContactInfo, Device, NotificationType, Notification, Message, DeliveryEvent];
