// Configuration for the MikroORM CLI (npm run migration:create). The CLI requires a default export.
import { env } from '../config/env';
import { ormOptions } from './orm.config';

export default ormOptions(env().db.url);
