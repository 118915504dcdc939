/** The shape of a request id the server makes (src/app/request.ts, `newRequestId`), which a 500's errorId is. */
export const GENERATED_ID = /^[0-9a-f]{12}-[0-9a-z]+$/;
