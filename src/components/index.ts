/** Components: the registry the engine resolves actions through, and the built-in components. */
export {
  createComponentRegistry,
  invokeAction,
  type ComponentChange,
  type ComponentChangeType,
  type ComponentHealth,
  type ComponentRegistration,
  type ComponentRegistry,
  type ComponentRegistryOptions,
} from './registry.ts'
export { registerBuiltins, type BuiltinOptions } from './builtins.ts'
export {
  coreComponent,
  createCoreActions,
  MAX_DELAY_MS,
  type CoreComponentOptions,
} from './core-components.ts'
export {
  createHttpActions,
  httpComponent,
  DEFAULT_HTTP_TIMEOUT_MS,
  DEFAULT_MAX_RESPONSE_BYTES,
  type HttpComponentOptions,
} from './http-request.ts'
export {
  createShellActions,
  shellComponent,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_SHELL_TIMEOUT_MS,
  SHELL_DISABLED_REASON,
  type ShellComponentOptions,
} from './shell-exec.ts'
export { createWorkflowActions, workflowComponent } from './workflow-component.ts'
export { isPrivateAddress } from './network-guard.ts'
