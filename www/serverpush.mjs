// serverpush.js as an ES module: import { subscribe, publish } from "./serverpush.mjs".
// The client itself is one classic script (old browsers need it, for the iframe transport);
// importing it runs it, and it defines the global this module re-exports.
import "./serverpush.js";

const serverpush = globalThis.serverpush;
export const { subscribe, publish } = serverpush;
export default serverpush;
