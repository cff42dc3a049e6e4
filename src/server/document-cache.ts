import { parse, validate, type DocumentNode, type GraphQLError, type GraphQLSchema } from 'graphql';
import { LRUCache } from 'lru-cache';

/** Documents kept, and the longest query text kept (longer ones are parsed and validated every time). */
const MAX_DOCUMENTS = 1_000;
const MAX_CACHED_QUERY_CHARS = 8_192;

/**
 * Parsed and validated documents by query text, for graphql-ws, whose path bypasses Apollo's own document store
 * (Apollo keeps one for HTTP for the same reason). Validation is the costly step of a small operation (a third of a
 * millisecond against this schema), and clients send the same documents again and again (every resubscribe, every
 * socket of a page). At most 1,000 documents of at most 8 KiB each, least recently used dropped first.
 */
export class DocumentCache {
  private readonly documents = new LRUCache<string, DocumentNode>({ max: MAX_DOCUMENTS });
  private readonly validations = new WeakMap<DocumentNode, readonly GraphQLError[]>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly maxTokens: number,
  ) {}

  /** The document of `query`; throws graphql-js's syntax GraphQLError (or its maxTokens one) like `parse`. */
  parse(query: string): DocumentNode {
    const cached = this.documents.get(query);
    if (cached) return cached;
    const document = parse(query, { maxTokens: this.maxTokens });
    if (query.length <= MAX_CACHED_QUERY_CHARS) this.documents.set(query, document);
    return document;
  }

  /** graphql-js's `validate` of a document against the schema, once per document this cache returned. */
  validate(document: DocumentNode): readonly GraphQLError[] {
    const cached = this.validations.get(document);
    if (cached) return cached;
    const errors = validate(this.schema, document);
    this.validations.set(document, errors);
    return errors;
  }
}
