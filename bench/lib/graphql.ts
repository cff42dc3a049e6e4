/** A plain GraphQL POST; throws on transport errors and GraphQL errors. */
export async function gql<T>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
  return body.data as T;
}

export const SEND_MUTATION = `mutation ($input: SendNotificationInput!) {
  sendNotification(input: $input) { notification { id } }
}`;

export const BATCH_MUTATION = `mutation ($inputs: [SendNotificationInput!]!) {
  sendNotifications(inputs: $inputs) { summary { total accepted failed } }
}`;

/** A send the way a backend service makes one: an ad-hoc SMS with explicit content. */
export const smsInput = (userId: string, body = 'Your code is 424242') => ({
  userId,
  type: 'adhoc',
  channels: ['SMS'],
  to: { phone: '+14155552671' },
  content: { body },
});
