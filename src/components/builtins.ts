/**
 * Registers the built-in components: `core`, `http` and `workflow` always, `shell` only when the config
 * enables it (otherwise the registry remembers why it is absent, so errors about it say how to enable it).
 */
import type { Clock } from '../core/clock.ts'
import { createCoreActions, coreComponent } from './core-components.ts'
import { createHttpActions, httpComponent, type HttpComponentOptions } from './http-request.ts'
import { createMcpActions, mcpComponent } from './mcp-component.ts'
import type { ComponentRegistry } from './registry.ts'
import {
  createShellActions,
  shellComponent,
  SHELL_DISABLED_REASON,
  type ShellComponentOptions,
} from './shell-exec.ts'
import { createWorkflowActions, workflowComponent } from './workflow-component.ts'

export interface BuiltinOptions {
  shell?: { enabled: boolean } & ShellComponentOptions
  http?: HttpComponentOptions
  /** Time for `core.delay` (tests). */
  clock?: Clock
}

export function registerBuiltins(registry: ComponentRegistry, options: BuiltinOptions = {}): void {
  registry.register(
    coreComponent,
    createCoreActions(options.clock === undefined ? {} : { clock: options.clock }),
  )
  registry.register(httpComponent, createHttpActions(options.http))
  registry.register(workflowComponent, createWorkflowActions())
  const { enabled, ...shell } = options.shell ?? { enabled: false }
  if (enabled) registry.register(shellComponent, createShellActions(shell))
  else registry.setUnavailable(shellComponent.name, SHELL_DISABLED_REASON)
  registry.register(mcpComponent, createMcpActions({ allowCommands: enabled }))
}
