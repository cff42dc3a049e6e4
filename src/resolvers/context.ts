import type { Caller, Services } from '../services';
import type { Loaders } from './loaders';

/** What every resolver receives: the authenticated caller (tenant, subject, scopes) and the domain services. */
export interface GraphQLContext {
  caller: Caller;
  services: Services;
  loaders: Loaders;
}
