/** Moved to services/shared/secret-box.ts (delivery-status opens provider API keys too); kept so gateway imports stay short. */
export * from "../../shared/secret-box.ts";
