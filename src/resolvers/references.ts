import type { GraphQLContext } from './context';

/** __resolveReference for the federated entities: how the gateway turns a representation into our object. */
export const referenceResolvers = {
  User: {
    __resolveReference: (reference: { id: string }) => ({ id: reference.id }),
  },
  Notification: {
    __resolveReference: (reference: { id: string }, { caller, services }: GraphQLContext) =>
      services.queries.notification(caller, reference.id),
  },
  Message: {
    __resolveReference: (reference: { id: string }, { caller, services }: GraphQLContext) =>
      services.queries.message(caller, reference.id),
  },
};
