/**
 * `harmonia webhooks ...` against a server (`--server <url>` or `HARMONIA_URL`; `--api-key` or
 * `HARMONIA_API_KEY`):
 *
 *   harmonia webhooks list [--limit n]
 *   harmonia webhooks get <webhook_id>
 *   harmonia webhooks create --endpoint <path> (--workflow <id> | --template <id>)
 *                            [--auth hmac|bearer|api_key --secret <s>] [--map name=<expression>]...
 *                            [--name n] [--description d] [--disabled]
 *   harmonia webhooks delete <webhook_id>
 *   harmonia webhooks calls <webhook_id> [--limit n]
 *   harmonia webhooks deliver <webhook_id> [--payload <json>]     replays a payload (no webhook auth)
 *
 * Secrets are never printed: the server masks them in every answer, and the CLI does not echo `--secret`.
 */
import { Option, type Command } from 'commander'
import type { Webhook, WebhookCall, WebhookInput } from '../client/index.ts'
import { ExitCode, prettyJson, type CliIo, type CommandRunner } from './cli-io.ts'
import { formatFields, limitOf, mappingOf, mappingText, payloadOf } from './hook-args.ts'
import { collect } from './input-args.ts'
import { withServer, withServerOptions, type ServerFlags } from './server-connection.ts'
import { formatTable } from './text-format.ts'

/** Where `--secret` goes in `auth_config` for each `--auth`. */
const SECRET_FIELD = { hmac: 'secret', bearer: 'token', api_key: 'key' } as const
type SecretAuth = keyof typeof SECRET_FIELD
const AUTH_TYPES = ['none', ...Object.keys(SECRET_FIELD)]

interface ListFlags extends ServerFlags {
  limit?: string
}

interface CreateFlags extends ServerFlags {
  endpoint: string
  workflow?: string
  template?: string
  auth?: 'none' | SecretAuth
  secret?: string
  map?: string[]
  name?: string
  description?: string
  disabled?: boolean
}

function targetOf(webhook: Webhook): string {
  return webhook.workflow_id != null
    ? `workflow ${webhook.workflow_id}`
    : `template ${webhook.template_id ?? '?'}`
}

function hookUrl(webhook: Webhook, baseUrl: string): string {
  return `${baseUrl}${webhook.hook_path ?? `/hooks/${webhook.endpoint}`}`
}

function webhookLine(webhook: Webhook, baseUrl: string): string {
  return (
    `webhook ${webhook.webhook_id} (${hookUrl(webhook, baseUrl)}) starts ${targetOf(webhook)}; ` +
    `auth ${webhook.auth_type ?? 'none'}, ${webhook.enabled === false ? 'disabled' : 'enabled'}\n`
  )
}

async function listWebhooks(flags: ListFlags, io: CliIo): Promise<ExitCode> {
  const limit = limitOf(flags.limit) ?? 100
  return withServer(flags, io, async (client) => {
    const page = await client.webhooks.list({ limit })
    if (flags.json === true) {
      io.stdout.write(prettyJson(page))
      return ExitCode.ok
    }
    if (page.items.length === 0) {
      io.stdout.write('no webhooks\n')
      return ExitCode.ok
    }
    const rows = page.items.map((webhook) => [
      webhook.webhook_id,
      webhook.endpoint,
      targetOf(webhook),
      webhook.auth_type ?? 'none',
      webhook.enabled === false ? 'no' : 'yes',
    ])
    io.stdout.write(formatTable(['WEBHOOK', 'ENDPOINT', 'STARTS', 'AUTH', 'ENABLED'], rows))
    if (page.total > page.items.length) io.stdout.write(`(${page.items.length} of ${page.total})\n`)
    return ExitCode.ok
  })
}

async function getWebhook(webhookId: string, flags: ServerFlags, io: CliIo): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const webhook = await client.webhooks.get(webhookId)
    if (flags.json === true) {
      io.stdout.write(prettyJson(webhook))
      return ExitCode.ok
    }
    io.stdout.write(
      formatFields([
        ['webhook', webhook.webhook_id],
        ['name', webhook.name],
        ['url', `POST ${hookUrl(webhook, client.baseUrl)}`],
        ['starts', targetOf(webhook)],
        ['input mapping', mappingText(webhook.input_mapping)],
        // The kind only: auth_config holds the (masked) secret.
        ['auth', webhook.auth_type ?? 'none'],
        ['enabled', webhook.enabled === false ? 'no' : 'yes'],
        ['description', webhook.description === '' ? undefined : webhook.description],
        ['created', webhook.created_at],
      ]),
    )
    return ExitCode.ok
  })
}

async function createWebhook(flags: CreateFlags, io: CliIo): Promise<ExitCode> {
  if ((flags.workflow === undefined) === (flags.template === undefined)) {
    io.stderr.write('error: give exactly one of --workflow <id> or --template <id>\n')
    return ExitCode.invalid
  }
  const auth = flags.auth ?? 'none'
  if (auth !== 'none' && (flags.secret === undefined || flags.secret === '')) {
    io.stderr.write(`error: --auth ${auth} needs --secret <secret>\n`)
    return ExitCode.invalid
  }
  if (auth === 'none' && flags.secret !== undefined) {
    io.stderr.write('error: --secret needs --auth hmac (or bearer, api_key)\n')
    return ExitCode.invalid
  }
  const mapping = mappingOf(flags.map)
  // Without --name the server names the webhook after its (normalized) endpoint.
  const body: Omit<WebhookInput, 'name'> & { name?: string } = {
    ...(flags.name === undefined ? {} : { name: flags.name }),
    endpoint: flags.endpoint,
    ...(flags.workflow === undefined ? {} : { workflow_id: flags.workflow }),
    ...(flags.template === undefined ? {} : { template_id: flags.template }),
    ...(mapping === undefined ? {} : { input_mapping: mapping }),
    ...(auth === 'none'
      ? {}
      : { auth_type: auth, auth_config: { [SECRET_FIELD[auth]]: flags.secret ?? '' } }),
    ...(flags.description === undefined ? {} : { description: flags.description }),
    ...(flags.disabled === true ? { enabled: false } : {}),
  }
  return withServer(flags, io, async (client) => {
    const webhook = await client.webhooks.create(body as WebhookInput)
    io.stdout.write(flags.json === true ? prettyJson(webhook) : webhookLine(webhook, client.baseUrl))
    return ExitCode.ok
  })
}

async function deleteWebhook(webhookId: string, flags: ServerFlags, io: CliIo): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const answer = await client.webhooks.delete(webhookId)
    io.stdout.write(flags.json === true ? prettyJson(answer) : `webhook ${webhookId} deleted\n`)
    return ExitCode.ok
  })
}

function callRow(call: WebhookCall): string[] {
  return [
    call.call_id,
    call.received_at,
    call.source,
    call.result,
    call.status_code === undefined ? '' : String(call.status_code),
    call.execution_id ?? call.error?.message ?? '',
  ]
}

async function listCalls(webhookId: string, flags: ListFlags, io: CliIo): Promise<ExitCode> {
  const limit = limitOf(flags.limit) ?? 20
  return withServer(flags, io, async (client) => {
    const page = await client.webhooks.calls(webhookId, { limit })
    if (flags.json === true) {
      io.stdout.write(prettyJson(page))
      return ExitCode.ok
    }
    if (page.items.length === 0) {
      io.stdout.write(`webhook ${webhookId} has received no calls\n`)
      return ExitCode.ok
    }
    io.stdout.write(
      formatTable(['CALL', 'RECEIVED', 'SOURCE', 'RESULT', 'STATUS', 'EXECUTION'], page.items.map(callRow)),
    )
    if (page.total > page.items.length) io.stdout.write(`(${page.items.length} of ${page.total})\n`)
    return ExitCode.ok
  })
}

async function deliver(
  webhookId: string,
  flags: ServerFlags & { payload?: string },
  io: CliIo,
): Promise<ExitCode> {
  const payload = payloadOf(flags.payload)
  return withServer(flags, io, async (client) => {
    // Wrapped, so a payload that has a `payload` field of its own is sent as it is.
    const answer = await client.webhooks.deliver(webhookId, { payload })
    if (flags.json === true) {
      io.stdout.write(prettyJson(answer))
      return ExitCode.ok
    }
    const execution = typeof answer.execution_id === 'string' ? answer.execution_id : undefined
    if (answer['duplicate'] === true) {
      io.stdout.write(
        `webhook ${webhookId}: duplicate delivery${execution === undefined ? '' : ` of execution ${execution}`}\n`,
      )
    } else {
      io.stdout.write(
        `webhook ${webhookId} delivered: execution ${execution ?? '?'} started` +
          `${answer.status === undefined ? '' : ` (${answer.status})`}\n`,
      )
    }
    return ExitCode.ok
  })
}

export function registerWebhooksCommand(program: Command, io: CliIo, done: CommandRunner): void {
  const webhooks = program.command('webhooks').description('Inbound webhooks on a server')
  withServerOptions(
    webhooks
      .command('list')
      .description('List webhooks')
      .option('--limit <n>', 'at most this many (default 100)'),
  ).action((_options: unknown, command: Command) =>
    done(() => listWebhooks(command.optsWithGlobals<ListFlags>(), io)),
  )
  withServerOptions(
    webhooks.command('get').description('Show a webhook (secrets masked)').argument('<webhook_id>'),
  ).action((webhookId: string, _options: unknown, command: Command) =>
    done(() => getWebhook(webhookId, command.optsWithGlobals<ServerFlags>(), io)),
  )
  withServerOptions(
    webhooks
      .command('create')
      .description('Create a webhook that starts a workflow or a template when called')
      .requiredOption('--endpoint <path>', 'the path it listens on, under /hooks/ (e.g. github/push)')
      .option('--workflow <workflow_id>', 'the workflow to start')
      .option('--template <template_id>', 'a template, instantiated on each call')
      .addOption(
        new Option('--auth <type>', "the caller's authentication (default none)").choices(AUTH_TYPES),
      )
      .option('--secret <secret>', 'the HMAC secret (or bearer token, or API key) for --auth')
      .option(
        '-m, --map <name=expression>',
        'an input of the workflow from the call, e.g. user=${payload.user.id} (repeatable)',
        collect,
      )
      .option('--name <name>', 'a name (default the endpoint)')
      .option('--description <text>', 'a description')
      .option('--disabled', 'create it disabled'),
  ).action((_options: unknown, command: Command) =>
    done(() => createWebhook(command.optsWithGlobals<CreateFlags>(), io)),
  )
  withServerOptions(
    webhooks.command('delete').description('Delete a webhook').argument('<webhook_id>'),
  ).action((webhookId: string, _options: unknown, command: Command) =>
    done(() => deleteWebhook(webhookId, command.optsWithGlobals<ServerFlags>(), io)),
  )
  withServerOptions(
    webhooks
      .command('calls')
      .description('Calls a webhook received (and replays), newest first')
      .argument('<webhook_id>')
      .option('--limit <n>', 'at most this many (default 20)'),
  ).action((webhookId: string, _options: unknown, command: Command) =>
    done(() => listCalls(webhookId, command.optsWithGlobals<ListFlags>(), io)),
  )
  withServerOptions(
    webhooks
      .command('deliver')
      .description("Replay a payload through a webhook's input mapping (starts an execution)")
      .argument('<webhook_id>')
      .option('--payload <json>', 'the payload, as JSON (default {})'),
  ).action((webhookId: string, _options: unknown, command: Command) =>
    done(() => deliver(webhookId, command.optsWithGlobals(), io)),
  )
}
