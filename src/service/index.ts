export { type Authorize, allowEveryone, type Scope } from './authorize.js';
export { type GraphQLFetch, graphqlFetchOf } from './graphql-request.js';
export {
  INSTANCE_HEADER,
  type PulseService,
  type PulseServiceOptions,
  REQUEST_ID_HEADER,
  SERVICE_NAME,
  startPulseService,
} from './service.js';
