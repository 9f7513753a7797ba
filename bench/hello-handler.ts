/** The baseline of `cold_init_hello_ms`: a handler that loads nothing, bundled like the real functions. */
export const handler = async () => ({ statusCode: 200, body: 'hello' });
