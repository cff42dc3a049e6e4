// Configuration for the MikroORM CLI (npm run migration:create). The CLI requires a default export.
import { ormOptions } from './orm.config';

// eslint-disable-next-line no-restricted-exports
export default ormOptions(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald');
