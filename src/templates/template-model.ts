/**
 * The template model: parameterized workflows from which workflows are instantiated.
 *
 * Terminology
 * - template:        a named workflow definition with declared parameters; every update adds a version
 *                    (1, 2, 3, ...) and every version is kept.
 * - parameter:       a named, typed value a template asks for (`parameters: {priority: {type: 'select',
 *                    options: [...]}}`); callers give `parameter_values` when they instantiate.
 * - placeholder:     where a parameter (or, in Tekton files, a task output or workflow input) is used inside
 *                    the template's workflow definition: `${param.x}`, `${parameters.x}`, Tekton's
 *                    `{{ x }}` and `{{ task.output.y }}`. See placeholders.ts.
 * - instantiation:   turning one version of a template plus parameter values into a plain workflow
 *                    definition (placeholders replaced), validated like any workflow.
 * - draft:           a template before it is stored: what `create` and the Tekton importer produce; the
 *                    store adds `template_id`, `version`, timestamps and `usage_count`.
 * - starter library: the templates Harmonia ships with, inserted once under stable ids (`starter-...`).
 * - Tekton template file: the exchange format of Tekton's template system (`parameter_type`,
 *                    `default_value`, tasks with `dependencies` and `parameters`); see tekton-format.ts.
 *
 * Stored forms keep Harmonia's placeholder syntax: resolvable Tekton `{{ ... }}` placeholders are rewritten
 * to `${...}` when a template is created, updated or imported; only the literal escape `{{ '...' }}` stays.
 */
import type { JsonObject, JsonValue, WorkflowDefinition } from '../core/model.ts'

export const ParameterType = {
  string: 'string',
  /** A string meant for long text; a UI shows a text area. */
  text: 'text',
  number: 'number',
  integer: 'integer',
  boolean: 'boolean',
  object: 'object',
  array: 'array',
  /** One of `options`. */
  select: 'select',
} as const
export type ParameterType = (typeof ParameterType)[keyof typeof ParameterType]

export const PARAMETER_TYPES: readonly ParameterType[] = Object.values(ParameterType)

export interface ParameterSpec {
  type: ParameterType
  /**
   * The caller must give a value. A parameter with a `default` is never missing: the default stands in.
   */
  required: boolean
  default?: JsonValue
  /** The allowed values of a `select` parameter (required for `select`, not allowed otherwise). */
  options?: JsonValue[]
  /** Allowed values for a parameter of any other type. */
  enum?: JsonValue[]
  description?: string
  /** A display name, when it differs from the parameter's key (Tekton files carry one). */
  title?: string
}

export type ParameterMap = Record<string, ParameterSpec>

export interface Template {
  template_id: string
  name: string
  description: string
  /** 1 for a new template; incremented on every update. */
  version: number
  /** Normalized Harmonia definition whose values may hold placeholders. */
  workflow_definition: WorkflowDefinition
  parameters: ParameterMap
  tags: string[]
  category?: string
  is_public: boolean
  metadata: JsonObject
  /** When version 1 was created. */
  created_at: string
  /** When this version was created. */
  updated_at: string
  /** How many workflows were instantiated from the template (any version). */
  usage_count: number
}

/** A template before it is stored. */
export type TemplateDraft = Omit<
  Template,
  'template_id' | 'version' | 'created_at' | 'updated_at' | 'usage_count'
> & {
  /** A caller-chosen id (used when free); otherwise one is generated. */
  template_id?: string
}

/** Where templates live in the store's generic documents. */
export const TemplateCollections = {
  /** One document per template: its latest version (id: template_id). */
  templates: 'templates',
  /** One document per version (id: `<template_id>@<version>`), each with `template_id` and `version`. */
  versions: 'template_versions',
  /** Bookkeeping of the starter library (id: `starter`): which starter ids were ever inserted. */
  library: 'template_library',
} as const

/** Keys of `metadata` on a workflow instantiated from a template. */
export const TEMPLATE_METADATA_KEYS = {
  templateId: 'template_id',
  templateVersion: 'template_version',
} as const
