/**
 * Template routes: CRUD (each update adds a version), versions, instantiate a version or the latest,
 * Tekton import and export, and list filters (`search`, `tag`, `tags`, `category`).
 */
import type { FastifyInstance } from 'fastify'
import type { TemplateQuery } from '../../templates/template-service.ts'
import { routeSchema, type ApiContext } from '../context.ts'
import { errorResponses } from '../schemas.ts'

const openObject = { type: 'object', additionalProperties: true } as const
const IdParams = {
  type: 'object',
  required: ['template_id'],
  properties: { template_id: { type: 'string', minLength: 1, maxLength: 256 } },
} as const
const VersionQuery = {
  type: 'object',
  properties: { version: { type: 'integer', minimum: 1 } },
} as const

export async function templateRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { templates, workflows } = context.harmonia
  const tag = 'templates'
  const idOf = (request: { params: unknown }): string =>
    (request.params as { template_id: string }).template_id

  app.post(
    '/templates',
    {
      schema: routeSchema(
        context,
        tag,
        'Create a template (from workflow_definition or a saved workflow_id)',
        {
          body: openObject,
          response: { 201: openObject, ...errorResponses(400, 401, 403, 404, 409, 422) },
        },
      ),
    },
    async (request, reply) => {
      const body = request.body as { workflow_id?: unknown }
      const workflow =
        typeof body.workflow_id === 'string' ? await workflows.get(body.workflow_id) : undefined
      const template = await templates.create(body, workflow === undefined ? {} : { workflow })
      return reply.code(201).send(template)
    },
  )

  app.get(
    '/templates',
    {
      schema: routeSchema(
        context,
        tag,
        'List templates; filter by search (name or description), tag, tags, category',
        {
          querystring: {
            type: 'object',
            properties: {
              search: { type: 'string' },
              tag: { type: 'string' },
              tags: { type: 'string', description: 'comma-separated; a template must have every one' },
              category: { type: 'string' },
              is_public: { type: 'boolean' },
              page: { type: 'integer', minimum: 1 },
              limit: { type: 'integer', minimum: 1, maximum: 500 },
              sort_by: { type: 'string', enum: ['created_at', 'updated_at', 'name', 'usage_count'] },
              sort_order: { type: 'string', enum: ['asc', 'desc'] },
            },
          },
          response: { 200: openObject, ...errorResponses(400, 401, 403) },
        },
      ),
    },
    async (request) => {
      const { tags, ...rest } = request.query as Omit<TemplateQuery, 'tags'> & { tags?: string }
      const query: TemplateQuery = {
        ...rest,
        ...(tags === undefined
          ? {}
          : {
              tags: tags
                .split(',')
                .map((value) => value.trim())
                .filter((value) => value !== ''),
            }),
      }
      const page = await templates.list(query)
      return { items: page.items, total: page.total, page: page.page, limit: page.limit }
    },
  )

  app.post(
    '/templates/import',
    {
      schema: routeSchema(
        context,
        tag,
        'Import a Tekton template file (JSON body); `workflow_definition_id` is null: instantiate makes the workflow',
        {
          body: openObject,
          response: { 201: openObject, ...errorResponses(400, 401, 403, 409, 422) },
        },
      ),
    },
    async (request, reply) => {
      const template = await templates.importTemplate(request.body)
      // Tekton's answer names the workflow definition the import created. A Harmonia template keeps its
      // definition inside (with parameter placeholders, so it is not a runnable workflow): there is none
      // until `instantiate` makes one, and saying so is better than an id that is not a workflow's.
      return reply.code(201).send({ ...template, workflow_definition_id: null })
    },
  )

  app.get(
    '/templates/:template_id',
    {
      schema: routeSchema(context, tag, 'A template (latest version, or ?version=n)', {
        params: IdParams,
        querystring: VersionQuery,
        response: { 200: openObject, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => templates.get(idOf(request), (request.query as { version?: number }).version),
  )

  app.put(
    '/templates/:template_id',
    {
      schema: routeSchema(context, tag, 'Update a template: adds a version', {
        params: IdParams,
        body: openObject,
        response: { 200: openObject, ...errorResponses(400, 401, 403, 404, 409, 422) },
      }),
    },
    async (request) => {
      const { expected_version: expected, ...changes } = request.body as { expected_version?: number }
      return templates.update(
        idOf(request),
        changes,
        expected === undefined ? {} : { expected_version: expected },
      )
    },
  )

  app.delete(
    '/templates/:template_id',
    {
      schema: routeSchema(context, tag, 'Delete a template and every version', {
        params: IdParams,
        response: { 200: openObject, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => {
      await templates.delete(idOf(request))
      return { success: true, template_id: idOf(request) }
    },
  )

  app.get(
    '/templates/:template_id/versions',
    {
      schema: routeSchema(context, tag, 'Every version of a template, oldest first', {
        params: IdParams,
        response: { 200: openObject, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => {
      const versions = await templates.listVersions(idOf(request))
      return { template_id: idOf(request), items: versions, total: versions.length }
    },
  )

  app.post(
    '/templates/:template_id/instantiate',
    {
      schema: routeSchema(
        context,
        tag,
        'Instantiate a template (latest version, or body.version) into a new saved workflow; 422 names a bad parameter',
        {
          params: IdParams,
          body: openObject,
          response: { 201: openObject, ...errorResponses(400, 401, 403, 404, 422) },
        },
      ),
    },
    async (request, reply) => {
      const instance = await templates.instantiate(idOf(request), request.body)
      return reply.code(201).send({
        ...(instance.workflow ?? {}),
        workflow_id: instance.workflow?.workflow_id,
        template_id: instance.template_id,
        template_version: instance.template_version,
        definition: instance.definition,
      })
    },
  )

  app.get(
    '/templates/:template_id/export',
    {
      schema: routeSchema(context, tag, 'Export a template as a Tekton template file', {
        params: IdParams,
        querystring: VersionQuery,
        response: { 200: openObject, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) =>
      templates.exportTemplate(idOf(request), (request.query as { version?: number }).version),
  )
}
