import { ContactService } from './contact.service';
import type { ServiceDeps } from './deps';
import { DispatchService } from './dispatch.service';
import { NotificationTypeService } from './notification-type.service';
import { NotificationService } from './notification.service';
import { QueryService } from './query.service';
import { SchedulerService } from './scheduler.service';
import { TemplateService } from './template.service';

export type { Caller, ServiceDeps } from './deps';

export interface Services {
  deps: ServiceDeps;
  notifications: NotificationService;
  dispatch: DispatchService;
  scheduler: SchedulerService;
  contacts: ContactService;
  types: NotificationTypeService;
  queries: QueryService;
}

export function createServices(deps: ServiceDeps): Services {
  const templates = new TemplateService();
  return {
    deps,
    notifications: new NotificationService(deps),
    dispatch: new DispatchService(deps, templates),
    scheduler: new SchedulerService(deps),
    contacts: new ContactService(deps),
    types: new NotificationTypeService(deps, templates),
    queries: new QueryService(deps),
  };
}
