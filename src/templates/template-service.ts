/**
 * Templates: create (from a definition or from a saved workflow), read any version, list and search,
 * update (each update adds a version; every version is kept), delete, instantiate, Tekton import and
 * export, and the starter library.
 *
 * Storage, in the store's generic documents: `templates/<template_id>` holds the latest version (what
 * lists and searches read), `template_versions/<template_id>@<version>` holds every version. A version is
 * written in one `commit` with the latest, so they never disagree. Changes to one template are serialized
 * within the process.
 *
 * Instantiation returns the workflow definition; when the service was given `saveWorkflow` (the workflow
 * service's create, in the composition root), it also saves it and returns the saved record.
 */
import { systemClock, isoNow, type Clock } from '../core/clock.ts'
import { ConflictError, InvalidRequestError, NotFoundError, ValidationError } from '../core/errors.ts'
import { newId } from '../core/ids.ts'
import type { JsonObject, WorkflowDefinition, WorkflowRecord } from '../core/model.ts'
import type { DocumentWrite, Page, Store } from '../core/store.ts'
import { validateWorkflow as coreValidateWorkflow } from '../core/validate.ts'
import { checkInstantiateRequest, instantiateTemplate } from './instantiation.ts'
import { describe, isPlainObject } from './parameters.ts'
import { STARTER_TEMPLATES, type StarterTemplate } from './starter-library.ts'
import { exportTektonTemplate, readTektonTemplate, type TektonTemplateFile } from './tekton-format.ts'
import { TEMPLATE_ID_PATTERN, checkTemplateDraft, type WorkflowValidator } from './template-draft.ts'
import { TemplateCollections, type Template, type TemplateDraft } from './template-model.ts'

/** The part of the Store templates use. */
export type TemplateStore = Pick<Store, 'getDocument' | 'listDocuments' | 'putDocument' | 'commit'>

export interface TemplateServiceOptions {
  store: TemplateStore
  clock?: Clock
  /**
   * Checks instantiated workflows (and, with sample values, templates before they are stored). Default:
   * core's validateWorkflow with unknown components ignored.
   */
  validateWorkflow?: WorkflowValidator
  /** Saves an instantiated workflow; without it, `instantiate` only returns the definition. */
  saveWorkflow?: (definition: WorkflowDefinition) => Promise<WorkflowRecord>
  /** Templates `loadStarterLibrary` inserts; default the built-in starter library. */
  starterTemplates?: readonly StarterTemplate[]
}

export interface TemplateQuery {
  /** Case-insensitive substring of the name or description. */
  search?: string
  /** Templates that have every one of these tags (case-insensitive). */
  tags?: string[]
  /** One tag (as in `?tag=`); combined with `tags`. */
  tag?: string
  /** Case-insensitive. */
  category?: string
  is_public?: boolean
  /** 1-based. Default 1. */
  page?: number
  /** Default 20, at most 500. */
  limit?: number
  /** `created_at` (default), `updated_at`, `name` or `usage_count`. */
  sort_by?: string
  /** Default `desc` (`asc` for `name`). */
  sort_order?: 'asc' | 'desc'
}

export interface TemplateInstance {
  template_id: string
  template_version: number
  /** The workflow definition; its `metadata` holds `template_id` and `template_version`. */
  definition: WorkflowDefinition
  /** The saved workflow, when the service has `saveWorkflow`. */
  workflow?: WorkflowRecord
}

export interface TemplateService {
  /**
   * Stores a new template (version 1) from what a client sent: `name`, `description`,
   * `workflow_definition`, `parameters`, `tags`, `category`, `is_public`, `metadata`, optional
   * `template_id`. With `workflow`, the template's definition is that workflow's. Throws ValidationError
   * listing every problem, ConflictError when the id is taken.
   */
  create(body: unknown, options?: { workflow?: WorkflowRecord }): Promise<Template>
  /** The latest version, or the given one. Throws NotFoundError (`template_not_found`). */
  get(templateId: string, version?: number): Promise<Template>
  list(query?: TemplateQuery): Promise<Page<Template>>
  /**
   * Adds a version: fields given replace the latest version's, fields left out keep their value. With
   * `expected_version`, throws ConflictError when the latest version is another one.
   */
  update(
    templateId: string,
    changes: unknown,
    options?: { expected_version?: number; workflow?: WorkflowRecord },
  ): Promise<Template>
  /** Deletes the template and every version. Throws NotFoundError when there is none. */
  delete(templateId: string): Promise<void>
  /** Every version, oldest first. */
  listVersions(templateId: string): Promise<Template[]>
  /** `{name, description, parameter_values, version}` → a workflow definition (saved with `saveWorkflow`). */
  instantiate(templateId: string, request?: unknown): Promise<TemplateInstance>
  /** Imports a Tekton template file (object or JSON/YAML text) as a new template. */
  importTemplate(file: unknown, options?: { template_id?: string }): Promise<Template>
  exportTemplate(templateId: string, version?: number): Promise<TektonTemplateFile>
  /**
   * Inserts the starter templates that were never inserted before (by stable id); a starter template a
   * user deleted stays deleted. Returns the ids inserted now.
   */
  loadStarterLibrary(): Promise<string[]>
}

const PAGE_SIZE = 200
const MAX_LIMIT = 500
const SORT_FIELDS = ['created_at', 'updated_at', 'name', 'usage_count']
const STARTER_MARKER = 'starter'

export function createTemplateService(options: TemplateServiceOptions): TemplateService {
  const { store } = options
  const clock = options.clock ?? systemClock
  const validate = options.validateWorkflow ?? ((definition: unknown) => coreValidateWorkflow(definition))
  const starters = options.starterTemplates ?? STARTER_TEMPLATES
  const queues = new Map<string, Promise<unknown>>()

  /** Runs `work` after earlier work on the same template has finished. */
  const serialized = <T>(templateId: string, work: () => Promise<T>): Promise<T> => {
    const previous = queues.get(templateId) ?? Promise.resolve()
    const result = previous.then(work, work)
    const settled = result.then(
      () => undefined,
      () => undefined,
    )
    queues.set(templateId, settled)
    void settled.then(() => {
      if (queues.get(templateId) === settled) queues.delete(templateId)
    })
    return result
  }

  const notFound = (templateId: string, version?: number) =>
    new NotFoundError(
      'template_not_found',
      version === undefined
        ? `Template with ID '${templateId}' not found`
        : `Template with ID '${templateId}' has no version ${version}`,
      { template_id: templateId, ...(version === undefined ? {} : { version }) },
    )

  const readLatest = async (templateId: string): Promise<Template | undefined> =>
    (await store.getDocument(TemplateCollections.templates, templateId)) as Template | undefined

  const mustGet = async (templateId: string, version?: number): Promise<Template> => {
    const latest = await readLatest(templateId)
    if (latest === undefined) throw notFound(templateId)
    if (version === undefined || version === latest.version) return latest
    checkVersion(version)
    const stored = (await store.getDocument(TemplateCollections.versions, versionId(templateId, version))) as
      Template | undefined
    if (stored === undefined) throw notFound(templateId, version)
    return { ...stored, usage_count: latest.usage_count }
  }

  const writeVersion = (template: Template): DocumentWrite[] => [
    {
      collection: TemplateCollections.templates,
      id: template.template_id,
      doc: template as unknown as JsonObject,
    },
    {
      collection: TemplateCollections.versions,
      id: versionId(template.template_id, template.version),
      doc: template as unknown as JsonObject,
    },
  ]

  const checked = (body: unknown, subject: string, validator = validate): TemplateDraft => {
    const { draft, issues } = checkTemplateDraft(body, validator)
    if (issues.length > 0) throw new ValidationError(`${subject} is invalid`, issues)
    return draft
  }

  const insert = (draft: TemplateDraft, requestedId: string | undefined): Promise<Template> => {
    const templateId = requestedId ?? newId('tpl')
    return serialized(templateId, async () => {
      if (requestedId !== undefined && (await readLatest(requestedId)) !== undefined) {
        throw new ConflictError(`Template with ID '${requestedId}' already exists; update it instead`, {
          template_id: requestedId,
        })
      }
      const now = isoNow(clock)
      const { template_id: _ignored, ...fields } = draft
      const template: Template = {
        template_id: templateId,
        ...fields,
        version: 1,
        created_at: now,
        updated_at: now,
        usage_count: 0,
      }
      await store.commit({ documents: writeVersion(template) })
      return template
    })
  }

  const listVersions = async (templateId: string): Promise<Template[]> => {
    const versions = (await listAll(store, TemplateCollections.versions, {
      template_id: templateId,
    })) as unknown as Template[]
    return versions.sort((a, b) => a.version - b.version)
  }

  return {
    async create(body, createOptions = {}) {
      const draft = checked(withWorkflow(body, createOptions.workflow), templateLabel(body))
      return insert(draft, draft.template_id)
    },

    get: (templateId, version) => mustGet(templateId, version),

    async list(query = {}) {
      const { page, limit, sortBy, descending } = checkQuery(query)
      const all = (await listAll(store, TemplateCollections.templates, {})) as unknown as Template[]
      const search = query.search?.trim().toLowerCase()
      const tags = [...(query.tags ?? []), ...(query.tag === undefined ? [] : [query.tag])].map((tag) =>
        tag.toLowerCase(),
      )
      const category = query.category?.toLowerCase()
      const matches = all.filter(
        (template) =>
          (search === undefined ||
            search === '' ||
            template.name.toLowerCase().includes(search) ||
            template.description.toLowerCase().includes(search)) &&
          tags.every((tag) => template.tags.some((own) => own.toLowerCase() === tag)) &&
          (category === undefined || template.category?.toLowerCase() === category) &&
          (query.is_public === undefined || template.is_public === query.is_public),
      )
      const direction = descending ? -1 : 1
      matches.sort((a, b) => {
        const left = a[sortBy as keyof Template] as string | number
        const right = b[sortBy as keyof Template] as string | number
        const order =
          left < right
            ? -1
            : left > right
              ? 1
              : a.template_id < b.template_id
                ? -1
                : a.template_id > b.template_id
                  ? 1
                  : 0
        return order * direction
      })
      return { items: matches.slice((page - 1) * limit, page * limit), total: matches.length, page, limit }
    },

    async update(templateId, changes, updateOptions = {}) {
      if (!isPlainObject(changes)) {
        throw new ValidationError(`template '${templateId}' update is invalid`, [
          { message: `expected an object with the fields to change, got ${describe(changes)}` },
        ])
      }
      return serialized(templateId, async () => {
        const latest = await readLatest(templateId)
        if (latest === undefined) throw notFound(templateId)
        const expected = updateOptions.expected_version
        if (expected !== undefined && expected !== latest.version) {
          throw new ConflictError(
            `Template with ID '${templateId}' is at version ${latest.version}, not ${expected}; reload it and apply the change again`,
            {
              template_id: templateId,
              version: latest.version,
              expected_version: expected,
            },
          )
        }
        const {
          template_id: _id,
          version: _version,
          created_at: _created,
          updated_at: _updated,
          usage_count: _usage,
          ...current
        } = latest
        const merged = withWorkflow({ ...current, ...changes }, updateOptions.workflow)
        const draft = checked(merged, `template '${templateId}'`)
        const { template_id: _draftId, ...fields } = draft
        const template: Template = {
          ...fields,
          template_id: templateId,
          version: latest.version + 1,
          created_at: latest.created_at,
          updated_at: isoNow(clock),
          usage_count: latest.usage_count,
        }
        await store.commit({ documents: writeVersion(template) })
        return template
      })
    },

    delete(templateId) {
      return serialized(templateId, async () => {
        if ((await readLatest(templateId)) === undefined) throw notFound(templateId)
        const versions = await listVersions(templateId)
        await store.commit({
          documents: [
            { collection: TemplateCollections.templates, id: templateId, doc: null },
            ...versions.map((version) => ({
              collection: TemplateCollections.versions,
              id: versionId(templateId, version.version),
              doc: null,
            })),
          ],
        })
      })
    },

    async listVersions(templateId) {
      if ((await readLatest(templateId)) === undefined) throw notFound(templateId)
      return listVersions(templateId)
    },

    async instantiate(templateId, rawRequest) {
      const request = checkInstantiateRequest(rawRequest)
      const template = await mustGet(templateId, request.version)
      const definition = instantiateTemplate(template, request, validate)
      const workflow = options.saveWorkflow === undefined ? undefined : await options.saveWorkflow(definition)
      await serialized(templateId, async () => {
        const latest = await readLatest(templateId)
        // Deleted meanwhile: the instance stands, there is nothing to count on.
        if (latest === undefined) return
        await store.putDocument(TemplateCollections.templates, templateId, {
          ...latest,
          usage_count: latest.usage_count + 1,
        } as unknown as JsonObject)
      })
      return {
        template_id: template.template_id,
        template_version: template.version,
        definition,
        ...(workflow === undefined ? {} : { workflow }),
      }
    },

    async importTemplate(file, importOptions = {}) {
      const { draft, issues } = readTektonTemplate(file, { validateWorkflow: validate })
      if (issues.length > 0) {
        throw new ValidationError(
          draft.name === ''
            ? 'Tekton template file cannot be imported'
            : `Tekton template '${draft.name}' cannot be imported`,
          issues,
        )
      }
      const requestedId = importOptions.template_id
      if (requestedId !== undefined && !TEMPLATE_ID_PATTERN.test(requestedId)) {
        throw new ValidationError('Tekton template file cannot be imported', [
          {
            field: 'template_id',
            message: `'${requestedId}' is not valid: use 1 to 128 letters, digits, '.', '_', '-' or ':'`,
          },
        ])
      }
      return insert(draft, requestedId)
    },

    async exportTemplate(templateId, version) {
      return exportTektonTemplate(await mustGet(templateId, version))
    },

    async loadStarterLibrary() {
      const marker = await store.getDocument(TemplateCollections.library, STARTER_MARKER)
      const loaded = new Set(Array.isArray(marker?.loaded) ? (marker.loaded as string[]) : [])
      const before = loaded.size
      const now = isoNow(clock)
      const writes: DocumentWrite[] = []
      const inserted: string[] = []
      for (const starter of starters) {
        const templateId = starter.template_id
        if (loaded.has(templateId)) continue
        loaded.add(templateId)
        // Another node may have inserted it since the marker was read.
        if ((await readLatest(templateId)) !== undefined) continue
        // Starters may use components this server lacks (llm unconfigured, signals added later): they are
        // stored anyway, and instantiating one checks its components.
        const draft = checked(starter, `starter template '${templateId}'`, validateIgnoringComponents)
        const { template_id: _id, ...fields } = draft
        writes.push(
          ...writeVersion({
            template_id: templateId,
            ...fields,
            version: 1,
            created_at: now,
            updated_at: now,
            usage_count: 0,
          }),
        )
        inserted.push(templateId)
      }
      if (marker !== undefined && loaded.size === before) return inserted
      writes.push({
        collection: TemplateCollections.library,
        id: STARTER_MARKER,
        doc: { loaded: [...loaded].sort(), updated_at: now },
      })
      await store.commit({ documents: writes })
      return inserted
    },
  }
}

function validateIgnoringComponents(definition: unknown) {
  return coreValidateWorkflow(definition, { unknownComponents: 'ignore' })
}

function versionId(templateId: string, version: number): string {
  return `${templateId}@${version}`
}

function checkVersion(version: number): void {
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new InvalidRequestError(`template version must be an integer from 1, got ${describe(version)}`)
  }
}

function templateLabel(body: unknown): string {
  return isPlainObject(body) && typeof body.name === 'string' && body.name.trim() !== ''
    ? `template '${body.name}'`
    : 'template'
}

/** The body with the saved workflow's definition as `workflow_definition`. */
function withWorkflow(body: unknown, workflow: WorkflowRecord | undefined): unknown {
  if (workflow === undefined || !isPlainObject(body)) return body
  if (body.workflow_definition !== undefined && body.workflow_definition !== null) {
    throw new ValidationError('template is invalid', [
      {
        field: 'workflow_definition',
        message: `give a workflow_definition or a workflow_id, not both (workflow_id '${workflow.workflow_id}')`,
      },
    ])
  }
  const metadata = isPlainObject(body.metadata) ? body.metadata : {}
  return {
    ...body,
    workflow_definition: workflow.definition,
    metadata: {
      ...metadata,
      source_workflow_id: workflow.workflow_id,
      source_workflow_revision: workflow.revision,
    },
  }
}

function checkQuery(query: TemplateQuery): {
  page: number
  limit: number
  sortBy: string
  descending: boolean
} {
  const page = query.page ?? 1
  const limit = query.limit ?? 20
  if (!Number.isSafeInteger(page) || page < 1)
    throw new InvalidRequestError(`page must be an integer from 1, got ${describe(page)}`)
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new InvalidRequestError(`limit must be an integer from 1 to ${MAX_LIMIT}, got ${describe(limit)}`)
  }
  const sortBy = query.sort_by ?? 'created_at'
  if (!SORT_FIELDS.includes(sortBy))
    throw new InvalidRequestError(`sort_by must be one of ${SORT_FIELDS.join(', ')}, got ${describe(sortBy)}`)
  const order = query.sort_order ?? (sortBy === 'name' ? 'asc' : 'desc')
  if (order !== 'asc' && order !== 'desc')
    throw new InvalidRequestError(`sort_order must be asc or desc, got ${describe(order)}`)
  return { page, limit, sortBy, descending: order === 'desc' }
}

/** Every document of a collection matching `where`, read page by page. */
async function listAll(
  store: TemplateStore,
  collection: string,
  where: Record<string, string>,
): Promise<JsonObject[]> {
  const documents: JsonObject[] = []
  for (let page = 1; ; page++) {
    const result = await store.listDocuments(collection, { where, page, limit: PAGE_SIZE })
    documents.push(...result.items)
    if (result.items.length < PAGE_SIZE || documents.length >= result.total) return documents
  }
}
