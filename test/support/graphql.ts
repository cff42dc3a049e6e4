import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type DocumentNode } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string; field?: string; [key: string]: unknown } }[];
}

/** POSTs a typed document to a GraphQL endpoint, as a gateway or service would. */
export async function execute<TResult, TVariables>(
  url: string,
  document: TypedDocumentNode<TResult, TVariables> | DocumentNode | string,
  variables?: TVariables,
  token?: string,
): Promise<GraphQLResponse<TResult>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: typeof document === 'string' ? document : print(document), variables }),
  });
  return (await response.json()) as GraphQLResponse<TResult>;
}

/** Like execute, but fails the test on any GraphQL error. */
export async function executeOk<TResult, TVariables>(
  url: string,
  document: TypedDocumentNode<TResult, TVariables>,
  variables?: TVariables,
  token?: string,
): Promise<TResult> {
  const result = await execute(url, document, variables, token);
  if (result.errors?.length || !result.data)
    throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
  return result.data;
}

export function wsClient(httpUrl: string, authorization?: string): Client {
  return createClient({
    url: httpUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: authorization ? { authorization } : {},
    retryAttempts: 0,
    lazy: true,
  });
}

/** Subscribes with a real graphql-ws client and collects every result until `until` says stop. */
export function collect<TResult, TVariables extends Record<string, unknown>>(
  client: Client,
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
  until: (seen: TResult[]) => boolean,
  timeoutMs = 20_000,
): { done: Promise<TResult[]>; seen: TResult[] } {
  const seen: TResult[] = [];
  const done = new Promise<TResult[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`subscription timed out; saw ${JSON.stringify(seen)}`));
    }, timeoutMs);
    const unsubscribe = client.subscribe<TResult>(
      { query: print(document), variables },
      {
        next: (value) => {
          if (value.errors) {
            clearTimeout(timer);
            reject(new Error(JSON.stringify(value.errors)));
            return;
          }
          seen.push(value.data as TResult);
          if (until(seen)) {
            clearTimeout(timer);
            unsubscribe();
            resolve(seen);
          }
        },
        error: (error) => {
          clearTimeout(timer);
          const close = error as { code?: unknown; reason?: unknown };
          reject(
            error instanceof Error
              ? error
              : typeof close?.code === 'number'
                ? new Error(
                    `socket closed ${close.code} ${typeof close.reason === 'string' ? close.reason : ''}`,
                  )
                : new Error(JSON.stringify(error)),
          );
        },
        complete: () => {
          clearTimeout(timer);
          resolve(seen);
        },
      },
    );
  });
  // Tests that only inspect `seen` never await `done`: its rejection on dispose must not count as unhandled.
  done.catch(() => undefined);
  return { done, seen };
}

export async function waitFor<T>(
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

/** Live subscriptions on a Herald API process, read from its /metrics. */
export async function subscriberCount(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl.replace(/\/graphql$/, '')}/metrics`)).text();
  return Number(/^herald_subscriptions (\d+)/m.exec(text)?.[1] ?? 0);
}

/**
 * Waits until the server holds exactly `count` subscriptions: 0 before subscribing (earlier clients have gone), then
 * the new number once it has registered them — instead of sleeping and hoping.
 */
export function waitForSubscribers(baseUrl: string, count: number): Promise<boolean> {
  return waitFor(async () => (await subscriberCount(baseUrl)) === count, 10_000, `${count} subscriptions`);
}

/** Runs one operation over a real graphql-ws client and resolves its first result; a refusal arrives as `errors`. */
export function overWebsocket(client: Client, query: string): Promise<GraphQLResponse<unknown>> {
  return new Promise((resolve) => {
    const unsubscribe = client.subscribe(
      { query },
      {
        next: (value) => {
          unsubscribe();
          resolve(value as GraphQLResponse<unknown>);
        },
        error: (error) =>
          resolve({
            errors: Array.isArray(error) ? (error as NonNullable<GraphQLResponse<unknown>['errors']>) : [],
          }),
        complete: () => undefined,
      },
    );
  });
}
