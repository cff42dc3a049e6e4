import { registerEnumType } from 'type-graphql';

export enum Channel {
  EMAIL = 'EMAIL',
  SMS = 'SMS',
  WHATSAPP = 'WHATSAPP',
  PUSH = 'PUSH',
}

export enum Priority {
  CRITICAL = 'CRITICAL',
  HIGH = 'HIGH',
  MEDIUM = 'MEDIUM',
  LOW = 'LOW',
}

export enum MessageStatus {
  QUEUED = 'QUEUED',
  SCHEDULED = 'SCHEDULED',
  SENDING = 'SENDING',
  SENT = 'SENT',
  DELIVERED = 'DELIVERED',
  READ = 'READ',
  OPENED = 'OPENED',
  CLICKED = 'CLICKED',
  UNDELIVERED = 'UNDELIVERED',
  BOUNCED = 'BOUNCED',
  FAILED = 'FAILED',
  SUPPRESSED = 'SUPPRESSED',
  CANCELLED = 'CANCELLED',
}

export enum NotificationStatus {
  SCHEDULED = 'SCHEDULED',
  PROCESSING = 'PROCESSING',
  COMPLETED = 'COMPLETED',
  FAILED = 'FAILED',
  CANCELLED = 'CANCELLED',
  SUPPRESSED = 'SUPPRESSED',
}

export enum NotificationCategory {
  TRANSACTIONAL = 'TRANSACTIONAL',
  MARKETING = 'MARKETING',
}

export enum DevicePlatform {
  ANDROID = 'ANDROID',
  IOS = 'IOS',
  WEB = 'WEB',
}

/** Statuses Herald itself no longer moves a message out of (provider events may still rank it forward). */
export const FINAL_STATUSES: ReadonlySet<MessageStatus> = new Set([
  MessageStatus.SENT,
  MessageStatus.DELIVERED,
  MessageStatus.READ,
  MessageStatus.OPENED,
  MessageStatus.CLICKED,
  MessageStatus.UNDELIVERED,
  MessageStatus.BOUNCED,
  MessageStatus.FAILED,
  MessageStatus.SUPPRESSED,
  MessageStatus.CANCELLED,
]);

/** A carrier's final word on a sent message: after it, a provider such as Twilio settles the price. */
export const DELIVERY_OUTCOMES: ReadonlySet<MessageStatus> = new Set([
  MessageStatus.DELIVERED,
  MessageStatus.UNDELIVERED,
  MessageStatus.FAILED,
  MessageStatus.BOUNCED,
  MessageStatus.READ,
]);

/** Statuses that mean a provider accepted the message. */
export const SENT_STATUSES: ReadonlySet<MessageStatus> = new Set([
  MessageStatus.SENT,
  MessageStatus.DELIVERED,
  MessageStatus.READ,
  MessageStatus.OPENED,
  MessageStatus.CLICKED,
  MessageStatus.UNDELIVERED,
  MessageStatus.BOUNCED,
]);

registerEnumType(Channel, { name: 'Channel' });
registerEnumType(Priority, { name: 'Priority' });
registerEnumType(MessageStatus, { name: 'MessageStatus' });
registerEnumType(NotificationStatus, { name: 'NotificationStatus' });
registerEnumType(NotificationCategory, { name: 'NotificationCategory' });
registerEnumType(DevicePlatform, { name: 'DevicePlatform' });
