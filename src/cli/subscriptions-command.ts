/**
 * `harmonia subscriptions ...` (outbound notifications) against a server (`--server <url>` or
 * `HARMONIA_URL`; `--api-key` or `HARMONIA_API_KEY`):
 *
 *   harmonia subscriptions list [--limit n]
 *   harmonia subscriptions get <subscription_id>
 *   harmonia subscriptions create --url <url> --event <type>... [--workflow <id>]... [--secret <s>] [--name n]
 *                                 [--disabled]
 *   harmonia subscriptions delete <subscription_id>
 *   harmonia subscriptions deliveries <subscription_id> [--status pending|succeeded|failed] [--limit n]
 *   harmonia subscriptions redeliver <subscription_id> <delivery_id>
 *
 * A secret passed with `--secret` is never printed back. One the server generates (create without
 * `--secret`) is printed once, by create, since the receiver needs it to verify X-Harmonia-Signature; the
 * server answers it unmasked only then.
 */
import { Option, type Command } from 'commander'
import type {
  NotificationDelivery,
  Subscription,
  SubscriptionEventType,
  SubscriptionInput,
} from '../client/index.ts'
import { ExitCode, prettyJson, type CliIo, type CommandRunner } from './cli-io.ts'
import { formatFields, limitOf } from './hook-args.ts'
import { collect } from './input-args.ts'
import { withServer, withServerOptions, type ServerFlags } from './server-connection.ts'
import { formatTable } from './text-format.ts'

const MASK = '***'

interface ListFlags extends ServerFlags {
  limit?: string
}

interface DeliveriesFlags extends ListFlags {
  status?: 'pending' | 'succeeded' | 'failed'
}

interface CreateFlags extends ServerFlags {
  url: string
  event: string[]
  workflow?: string[]
  secret?: string
  name?: string
  disabled?: boolean
}

/** The answer with its secret masked (create answers a generated one unmasked). */
function masked(subscription: Subscription): Subscription {
  return { ...subscription, secret: MASK }
}

function workflowsText(subscription: Subscription): string {
  return subscription.workflow_ids.length === 0 ? 'every workflow' : subscription.workflow_ids.join(', ')
}

function subscriptionLine(subscription: Subscription): string {
  return (
    `subscription ${subscription.subscription_id} (POST ${subscription.external_url}) on ` +
    `${subscription.event_types.join(', ')} of ${workflowsText(subscription)}; ` +
    `${subscription.enabled ? 'enabled' : 'disabled'}\n`
  )
}

async function listSubscriptions(flags: ListFlags, io: CliIo): Promise<ExitCode> {
  const limit = limitOf(flags.limit) ?? 100
  return withServer(flags, io, async (client) => {
    const page = await client.subscriptions.list({ limit })
    if (flags.json === true) {
      io.stdout.write(prettyJson({ ...page, items: page.items.map(masked) }))
      return ExitCode.ok
    }
    if (page.items.length === 0) {
      io.stdout.write('no subscriptions\n')
      return ExitCode.ok
    }
    const rows = page.items.map((subscription) => [
      subscription.subscription_id,
      subscription.external_url,
      subscription.event_types.join(','),
      subscription.workflow_ids.length === 0 ? '*' : subscription.workflow_ids.join(','),
      subscription.enabled ? 'yes' : 'no',
    ])
    io.stdout.write(formatTable(['SUBSCRIPTION', 'URL', 'EVENTS', 'WORKFLOWS', 'ENABLED'], rows))
    if (page.total > page.items.length) io.stdout.write(`(${page.items.length} of ${page.total})\n`)
    return ExitCode.ok
  })
}

async function getSubscription(subscriptionId: string, flags: ServerFlags, io: CliIo): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const subscription = await client.subscriptions.get(subscriptionId)
    if (flags.json === true) {
      io.stdout.write(prettyJson(masked(subscription)))
      return ExitCode.ok
    }
    io.stdout.write(
      formatFields([
        ['subscription', subscription.subscription_id],
        ['name', subscription.name === '' ? undefined : subscription.name],
        ['url', `POST ${subscription.external_url}`],
        ['events', subscription.event_types.join(', ')],
        ['workflows', workflowsText(subscription)],
        ['receiver auth', subscription.auth_type],
        ['signed', 'yes (the secret is not shown)'],
        ['attempts', `at most ${subscription.retry_config.max_attempts}`],
        ['enabled', subscription.enabled ? 'yes' : 'no'],
        ['created', subscription.created_at],
      ]),
    )
    return ExitCode.ok
  })
}

async function createSubscription(flags: CreateFlags, io: CliIo): Promise<ExitCode> {
  // `--event a --event b` and `--event a,b` alike.
  const events = flags.event.flatMap((text) => text.split(',')).map((text) => text.trim())
  if (events.some((event) => event === '')) {
    io.stderr.write(`error: --event '${flags.event.join(',')}' has an empty event type\n`)
    return ExitCode.invalid
  }
  const body: SubscriptionInput = {
    external_url: flags.url,
    event_types: events as SubscriptionEventType[],
    ...(flags.workflow === undefined ? {} : { workflow_ids: flags.workflow }),
    ...(flags.secret === undefined ? {} : { secret: flags.secret }),
    ...(flags.name === undefined ? {} : { name: flags.name }),
    ...(flags.disabled === true ? { enabled: false } : {}),
  }
  return withServer(flags, io, async (client) => {
    const subscription = await client.subscriptions.create(body)
    const generated = flags.secret === undefined
    if (flags.json === true) {
      io.stdout.write(prettyJson(generated ? subscription : masked(subscription)))
      return ExitCode.ok
    }
    io.stdout.write(subscriptionLine(subscription))
    if (generated) {
      io.stdout.write(
        `  signing secret (generated; shown only now, keep it to verify X-Harmonia-Signature): ${subscription.secret}\n`,
      )
    }
    return ExitCode.ok
  })
}

async function deleteSubscription(subscriptionId: string, flags: ServerFlags, io: CliIo): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const answer = await client.subscriptions.delete(subscriptionId)
    io.stdout.write(flags.json === true ? prettyJson(answer) : `subscription ${subscriptionId} deleted\n`)
    return ExitCode.ok
  })
}

function deliveryRow(delivery: NotificationDelivery): string[] {
  const last = delivery.attempts.at(-1)
  return [
    delivery.delivery_id,
    delivery.event_type,
    delivery.execution_id ?? '',
    delivery.status,
    String(delivery.attempt_count),
    last === undefined ? '' : (last.status_code?.toString() ?? last.error ?? ''),
    delivery.created_at,
  ]
}

async function listDeliveries(subscriptionId: string, flags: DeliveriesFlags, io: CliIo): Promise<ExitCode> {
  const limit = limitOf(flags.limit) ?? 20
  return withServer(flags, io, async (client) => {
    const page = await client.subscriptions.deliveries(subscriptionId, {
      limit,
      ...(flags.status === undefined ? {} : { status: flags.status }),
    })
    if (flags.json === true) {
      io.stdout.write(prettyJson(page))
      return ExitCode.ok
    }
    if (page.items.length === 0) {
      io.stdout.write(`subscription ${subscriptionId} has no deliveries\n`)
      return ExitCode.ok
    }
    io.stdout.write(
      formatTable(
        ['DELIVERY', 'EVENT', 'EXECUTION', 'STATUS', 'ATTEMPTS', 'LAST ANSWER', 'CREATED'],
        page.items.map(deliveryRow),
      ),
    )
    if (page.total > page.items.length) io.stdout.write(`(${page.items.length} of ${page.total})\n`)
    return ExitCode.ok
  })
}

async function redeliver(
  subscriptionId: string,
  deliveryId: string,
  flags: ServerFlags,
  io: CliIo,
): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const delivery = await client.subscriptions.redeliver(subscriptionId, deliveryId)
    io.stdout.write(
      flags.json === true
        ? prettyJson(delivery)
        : `delivery ${delivery.delivery_id} queued: sends ${deliveryId} (${delivery.event_type}) again\n`,
    )
    return ExitCode.ok
  })
}

export function registerSubscriptionsCommand(program: Command, io: CliIo, done: CommandRunner): void {
  const subscriptions = program
    .command('subscriptions')
    .description('Outbound notifications on a server: execution events POSTed to a URL')
  withServerOptions(
    subscriptions
      .command('list')
      .description('List subscriptions')
      .option('--limit <n>', 'at most this many (default 100)'),
  ).action((_options: unknown, command: Command) =>
    done(() => listSubscriptions(command.optsWithGlobals<ListFlags>(), io)),
  )
  withServerOptions(
    subscriptions.command('get').description('Show a subscription').argument('<subscription_id>'),
  ).action((subscriptionId: string, _options: unknown, command: Command) =>
    done(() => getSubscription(subscriptionId, command.optsWithGlobals<ServerFlags>(), io)),
  )
  withServerOptions(
    subscriptions
      .command('create')
      .description('Subscribe a URL to execution events (deliveries are signed)')
      .requiredOption('--url <url>', 'where deliveries are POSTed (http:// or https://)')
      .requiredOption(
        '-e, --event <type>',
        "an event type, e.g. execution_completed, or '*' for every event (repeatable)",
        collect,
      )
      .option(
        '--workflow <workflow_id>',
        "only this workflow's events (repeatable; default every workflow)",
        collect,
      )
      .option('--secret <secret>', 'signs every delivery, at least 8 characters (default generated)')
      .option('--name <name>', 'a name')
      .option('--disabled', 'create it disabled'),
  ).action((_options: unknown, command: Command) =>
    done(() => createSubscription(command.optsWithGlobals<CreateFlags>(), io)),
  )
  withServerOptions(
    subscriptions
      .command('delete')
      .description('Delete a subscription (its pending deliveries fail)')
      .argument('<subscription_id>'),
  ).action((subscriptionId: string, _options: unknown, command: Command) =>
    done(() => deleteSubscription(subscriptionId, command.optsWithGlobals<ServerFlags>(), io)),
  )
  withServerOptions(
    subscriptions
      .command('deliveries')
      .description('Deliveries of a subscription, newest first')
      .argument('<subscription_id>')
      .addOption(new Option('--status <status>', 'only these').choices(['pending', 'succeeded', 'failed']))
      .option('--limit <n>', 'at most this many (default 20)'),
  ).action((subscriptionId: string, _options: unknown, command: Command) =>
    done(() => listDeliveries(subscriptionId, command.optsWithGlobals<DeliveriesFlags>(), io)),
  )
  withServerOptions(
    subscriptions
      .command('redeliver')
      .description('Send a delivery again, as a new delivery')
      .argument('<subscription_id>')
      .argument('<delivery_id>'),
  ).action((subscriptionId: string, deliveryId: string, _options: unknown, command: Command) =>
    done(() => redeliver(subscriptionId, deliveryId, command.optsWithGlobals<ServerFlags>(), io)),
  )
}
