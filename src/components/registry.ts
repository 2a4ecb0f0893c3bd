/**
 * The component registry: which components (built-in and remote) exist, their actions, and their health.
 * It is the engine's ComponentResolver. Components and single actions may be added, replaced and removed at
 * any time (remote components come and go); listeners hear every change, so the API can stream them.
 *
 * Handlers the registry hands out check the task's input against the action's `input_schema` (compiled
 * once, when the action is registered) before they invoke the action, so an engine that calls
 * `resolve(...).invoke(...)` and a direct call through `invokeAction` validate alike.
 */
import { systemClock, isoNow, type Clock } from '../core/clock.ts'
import type {
  ActionDescriptor,
  ActionHandler,
  ComponentDescriptor,
  ComponentResolver,
  TaskContext,
} from '../core/component.ts'
import { ConflictError, NotFoundError, ValidationError, type ValidationIssue } from '../core/errors.ts'
import { silentLogger, type Logger } from '../core/logger.ts'
import type { JsonValue } from '../core/model.ts'
import { compileInputCheck, type InputCheck } from './action-input-validator.ts'

export type ComponentHealth = NonNullable<ComponentDescriptor['health']>

/** What `register` needs to know about a component besides its actions. */
export interface ComponentRegistration {
  name: string
  description?: string
  kind: ComponentDescriptor['kind']
  base_url?: string
  health?: ComponentHealth
}

export type ComponentChangeType = 'component_registered' | 'component_updated' | 'component_unregistered'

export interface ComponentChange {
  type: ComponentChangeType
  timestamp: string
  component: string
  /** The component as it is after the change; absent when it was unregistered. */
  descriptor?: ComponentDescriptor
}

export interface ComponentRegistry extends ComponentResolver {
  /**
   * Adds a component with its actions. Throws ConflictError when the name is taken (unless `replace`, which
   * swaps the component and its actions at once) and ValidationError for bad names or input schemas.
   */
  register(
    descriptor: ComponentRegistration,
    actions: readonly ActionHandler[],
    options?: {
      replace?: boolean
      /**
       * Handles actions the component did not list (remote components whose list may be incomplete: the
       * component itself says whether it knows the action). Not input-checked: no schema is known.
       */
      fallback?: (action: string) => ActionHandler | undefined
    },
  ): void
  /** Adds one action to a registered component; `replace` swaps an action of the same name. */
  registerAction(component: string, handler: ActionHandler, options?: { replace?: boolean }): void
  /** Removes one action; false when there was no such action. */
  unregisterAction(component: string, action: string): boolean
  /** Removes a component and its actions; false when it was not registered. */
  unregister(name: string): boolean
  /** Records a component's health (announced only when it changed). */
  setHealth(name: string, health: ComponentHealth): void
  /** Remembers why a component is absent (e.g. disabled in config) so errors about it can say so. */
  setUnavailable(name: string, reason: string): void
  /** The reason given to `setUnavailable` while the component is not registered. */
  unavailableReason(component: string): string | undefined
  /** Every component, sorted by name. */
  list(): ComponentDescriptor[]
  describe(name: string): ComponentDescriptor | undefined
  describeAction(component: string, action: string): ActionDescriptor | undefined
  /** The validating handler of `component.action`; throws NotFoundError (`component_error`) naming what exists. */
  require(component: string, action: string): ActionHandler
  /** Calls `listener` on every change; returns the function that stops it. */
  onChange(listener: (change: ComponentChange) => void): () => void
}

export interface ComponentRegistryOptions {
  clock?: Clock
  /** Where a throwing change listener is reported. */
  logger?: Logger
}

const COMPONENT_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/
const ACTION_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/

interface RegisteredAction {
  readonly descriptor: ActionDescriptor
  /** The handler given to the engine: checks the input, then invokes the registered handler. */
  readonly checked: ActionHandler
}

interface RegisteredComponent {
  readonly name: string
  readonly description: string | undefined
  readonly kind: ComponentDescriptor['kind']
  readonly baseUrl: string | undefined
  health: ComponentHealth
  readonly actions: Map<string, RegisteredAction>
  readonly fallback: ((action: string) => ActionHandler | undefined) | undefined
}

export function createComponentRegistry(options: ComponentRegistryOptions = {}): ComponentRegistry {
  const clock = options.clock ?? systemClock
  const logger = options.logger ?? silentLogger
  const components = new Map<string, RegisteredComponent>()
  const unavailable = new Map<string, string>()
  const listeners = new Set<(change: ComponentChange) => void>()

  const announce = (type: ComponentChangeType, name: string): void => {
    if (listeners.size === 0) return
    const entry = components.get(name)
    const change: ComponentChange = {
      type,
      timestamp: isoNow(clock),
      component: name,
      ...(entry === undefined || type === 'component_unregistered'
        ? {}
        : { descriptor: describeEntry(entry) }),
    }
    for (const listener of [...listeners]) {
      try {
        listener(change)
      } catch (error) {
        logger.warn('component change listener failed', {
          component: name,
          change: type,
          error: error instanceof Error ? error.message : String(error),
        })
      }
    }
  }

  const mustGet = (name: string): RegisteredComponent => {
    const entry = components.get(name)
    if (entry === undefined) throw unknownComponent(name)
    return entry
  }

  const unknownComponent = (name: string): NotFoundError => {
    const reason = unavailable.get(name)
    const known = [...components.keys()].sort()
    return new NotFoundError(
      'component_error',
      `component '${name}' is not registered${reason === undefined ? '' : ` (${reason})`}; registered components: ${known.length === 0 ? 'none' : known.join(', ')}`,
      {
        component: name,
        registered_components: known,
        ...(reason === undefined ? {} : { reason }),
      },
    )
  }

  const registry: ComponentRegistry = {
    register(descriptor, actions, registerOptions = {}) {
      const issues: ValidationIssue[] = []
      const name = descriptor.name
      if (typeof name !== 'string' || !COMPONENT_NAME.test(name)) {
        issues.push({
          field: 'name',
          message: `component name ${JSON.stringify(name)} must start with a letter and hold only letters, digits, '_' and '-' (at most 64 characters)`,
        })
      }
      if (descriptor.kind !== 'builtin' && descriptor.kind !== 'remote') {
        issues.push({
          field: 'kind',
          message: `expected 'builtin' or 'remote', got ${JSON.stringify(descriptor.kind)}`,
        })
      }
      const registered = new Map<string, RegisteredAction>()
      for (const handler of actions) {
        const action = prepareAction(name, handler, issues)
        if (action === undefined) continue
        if (registered.has(action.descriptor.name)) {
          issues.push({
            field: `actions.${action.descriptor.name}`,
            message: `action '${action.descriptor.name}' is given twice`,
          })
        }
        registered.set(action.descriptor.name, action)
      }
      if (issues.length > 0)
        throw new ValidationError(`component '${String(name)}' cannot be registered`, issues)
      const existed = components.has(name)
      if (existed && registerOptions.replace !== true) {
        throw new ConflictError(
          `component '${name}' is already registered; unregister it first or register with replace`,
          {
            component: name,
          },
        )
      }
      components.set(name, {
        name,
        description: descriptor.description,
        kind: descriptor.kind,
        baseUrl: descriptor.base_url,
        health: descriptor.health ?? { status: descriptor.kind === 'builtin' ? 'healthy' : 'unknown' },
        actions: registered,
        fallback: registerOptions.fallback,
      })
      unavailable.delete(name)
      announce(existed ? 'component_updated' : 'component_registered', name)
    },

    registerAction(component, handler, actionOptions = {}) {
      const entry = mustGet(component)
      const issues: ValidationIssue[] = []
      const action = prepareAction(component, handler, issues)
      if (action === undefined) {
        throw new ValidationError(`action of component '${component}' cannot be registered`, issues)
      }
      const actionName = action.descriptor.name
      if (entry.actions.has(actionName) && actionOptions.replace !== true) {
        throw new ConflictError(
          `component '${component}' already has an action '${actionName}'; unregister it first or register with replace`,
          { component, action: actionName },
        )
      }
      entry.actions.set(actionName, action)
      announce('component_updated', component)
    },

    unregisterAction(component, action) {
      const entry = components.get(component)
      if (entry === undefined || !entry.actions.delete(action)) return false
      announce('component_updated', component)
      return true
    },

    unregister(name) {
      if (!components.delete(name)) return false
      announce('component_unregistered', name)
      return true
    },

    setHealth(name, health) {
      const entry = mustGet(name)
      const before = entry.health
      if (
        before.status === health.status &&
        before.circuit === health.circuit &&
        before.detail === health.detail
      ) {
        return
      }
      entry.health = { ...health }
      announce('component_updated', name)
    },

    setUnavailable(name, reason) {
      unavailable.set(name, reason)
    },

    list() {
      return [...components.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(describeEntry)
    },

    describe(name) {
      const entry = components.get(name)
      return entry === undefined ? undefined : describeEntry(entry)
    },

    describeAction(component, action) {
      const found = components.get(component)?.actions.get(action)
      return found === undefined ? undefined : copyAction(found.descriptor)
    },

    require(component, action) {
      const entry = mustGet(component)
      const found = entry.actions.get(action)?.checked ?? entry.fallback?.(action)
      if (found === undefined) {
        const names = [...entry.actions.keys()].sort()
        throw new NotFoundError(
          'component_error',
          `component '${component}' has no action '${action}'; its actions: ${names.length === 0 ? 'none' : names.join(', ')}`,
          { component, action, actions: names },
        )
      }
      return found
    },

    resolve(component, action) {
      const entry = components.get(component)
      return entry?.actions.get(action)?.checked ?? entry?.fallback?.(action)
    },

    actionsOf(component) {
      const entry = components.get(component)
      return entry === undefined ? undefined : [...entry.actions.keys()]
    },

    unavailableReason(component) {
      return components.has(component) ? undefined : unavailable.get(component)
    },

    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
  return registry
}

/**
 * Runs `component.action` with `input`: the input is checked against the action's `input_schema` first
 * (TaskFailure `INVALID_INPUT`, not retriable, naming each field). Unknown names throw NotFoundError with
 * code `component_error`. An action that answers nothing answers null.
 */
export async function invokeAction(
  registry: ComponentRegistry,
  component: string,
  action: string,
  input: JsonValue,
  context: TaskContext,
): Promise<JsonValue> {
  return registry.require(component, action).invoke(input, context)
}

function prepareAction(
  component: string,
  handler: ActionHandler,
  issues: ValidationIssue[],
): RegisteredAction | undefined {
  const descriptor = handler?.descriptor
  if (descriptor === undefined || typeof handler.invoke !== 'function') {
    issues.push({
      field: 'actions',
      message: 'expected an action handler with a descriptor and an invoke function',
    })
    return undefined
  }
  const name = descriptor.name
  if (typeof name !== 'string' || !ACTION_NAME.test(name)) {
    issues.push({
      field: 'actions',
      message: `action name ${JSON.stringify(name)} must start with a letter and hold only letters, digits, '_', '.' and '-' (at most 128 characters)`,
    })
    return undefined
  }
  let check: InputCheck | undefined
  const schema = descriptor.input_schema
  if (schema !== undefined) {
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
      issues.push({ field: `actions.${name}.input_schema`, message: 'expected a JSON Schema object' })
      return undefined
    }
    try {
      check = compileInputCheck(component, name, schema)
    } catch (error) {
      issues.push({
        field: `actions.${name}.input_schema`,
        message: `is not a usable JSON Schema: ${(error as Error).message}`,
      })
      return undefined
    }
  }
  const frozen = freezeAction(descriptor)
  const checked: ActionHandler = {
    descriptor: frozen,
    ...(handler.resumable === true ? { resumable: true } : {}),
    async invoke(input, context) {
      check?.(input, context.task)
      const output = await handler.invoke(input, context)
      return output === undefined ? null : output
    },
  }
  return { descriptor: frozen, checked }
}

function describeEntry(entry: RegisteredComponent): ComponentDescriptor {
  return {
    name: entry.name,
    ...(entry.description === undefined ? {} : { description: entry.description }),
    kind: entry.kind,
    ...(entry.baseUrl === undefined ? {} : { base_url: entry.baseUrl }),
    actions: [...entry.actions.values()].map((action) => copyAction(action.descriptor)),
    health: { ...entry.health },
  }
}

/** A frozen deep copy of a descriptor: what callers of `describe` see cannot change what was registered. */
function freezeAction(descriptor: ActionDescriptor): ActionDescriptor {
  return deepFreeze(structuredClone(copyAction(descriptor)))
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}

function copyAction(descriptor: ActionDescriptor): ActionDescriptor {
  return {
    name: descriptor.name,
    ...(descriptor.description === undefined ? {} : { description: descriptor.description }),
    ...(descriptor.input_schema === undefined ? {} : { input_schema: descriptor.input_schema }),
    ...(descriptor.output_schema === undefined ? {} : { output_schema: descriptor.output_schema }),
  }
}
