import { GraphQLError } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

// Values that fail their type (a DateTime that is no date, a String given a number, a required
// field missing) are rejected by GraphQL itself during validation or variable coercion, with
// messages that name the field but no code. The contract calls them BAD_USER_INPUT.
const INPUT_PROBLEM =
  /^Variable "\$|cannot represent|Expected value of type|Expected type|of required type|is not defined by type|got invalid value/;

function tagged<E extends Error>(error: E): E | GraphQLError {
  if (!(error instanceof GraphQLError) || error.extensions?.code !== undefined || !INPUT_PROBLEM.test(error.message))
    return error;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    extensions: { ...error.extensions, code: 'BAD_USER_INPUT' },
  });
}

/** Gives GraphQL's own input-value errors the contract's BAD_USER_INPUT code. */
export function useInputErrorCodes(): Plugin {
  return {
    onValidate:
      () =>
      ({ result, setResult }) => {
        if (result.length > 0) setResult(result.map((error) => tagged(error) as GraphQLError));
      },
    onExecute: () => ({
      onExecuteDone: ({ result, setResult }) => {
        if (!isAsyncIterable(result) && result.errors?.length)
          setResult({ ...result, errors: result.errors.map(tagged) });
      },
    }),
    // A subscription whose variables fail coercion answers with one result instead of a stream.
    onSubscribe: () => ({
      onSubscribeResult: ({ result, setResult }) => {
        if (!isAsyncIterable(result) && result.errors?.length)
          setResult({ ...result, errors: result.errors.map(tagged) });
      },
    }),
  };
}
