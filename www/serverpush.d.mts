// Type declarations of serverpush.mjs: the same as serverpush.js's (serverpush.d.ts).
export * from "./serverpush.js";
export { default } from "./serverpush.js";
