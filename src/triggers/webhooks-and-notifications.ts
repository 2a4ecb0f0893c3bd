/**
 * Wires the triggers that talk to the outside world over HTTP: inbound webhooks, outbound notifications
 * (subscriptions and their outbox), and the actions that go with them: `core.wait_for_signal` (signals and
 * approvals) and `notify.send`, also named `core.notify` (a one-off signed call from a workflow). The
 * composition root creates it once, starts it before the engine (the outbox hook must see the first event)
 * and stops it before the engine.
 */
import type { Engine } from '../core/engine-api.ts'
import type { Logger } from '../core/logger.ts'
import type { Store } from '../core/store.ts'
import type { ComponentRegistry } from '../components/registry.ts'
import { createNotifyActions, notifyComponent } from '../components/notify-component.ts'
import { createSignalActions } from '../components/signal-wait.ts'
import { createNotificationService, type NotificationService } from './notifications.ts'
import { createWebhookService, type WebhookService } from './webhooks.ts'

export interface WebhooksAndNotifications {
  readonly webhooks: WebhookService
  readonly notifications: NotificationService
  start(): Promise<void>
  stop(): Promise<void>
}

export interface WebhooksAndNotificationsOptions {
  store: Store
  engine: Engine
  components: ComponentRegistry
  logger: Logger
}

export function createWebhooksAndNotifications(
  options: WebhooksAndNotificationsOptions,
): WebhooksAndNotifications {
  const { store, engine, components, logger } = options
  const webhooks = createWebhookService({ store, engine, logger: logger.child({ module: 'webhooks' }) })
  const notifications = createNotificationService({ store, engine, logger })
  for (const action of createSignalActions(store))
    components.registerAction('core', action, { replace: true })
  const notify = createNotifyActions({ subscription: (id) => notifications.secretSubscription(id) })
  components.register(notifyComponent, notify, { replace: true })
  // `core.notify`: the same action under the name a workflow author may reach for first.
  for (const action of notify) {
    components.registerAction(
      'core',
      { ...action, descriptor: { ...action.descriptor, name: 'notify' } },
      { replace: true },
    )
  }
  let started = false
  return {
    webhooks,
    notifications,
    async start() {
      if (started) return
      started = true
      await notifications.start()
    },
    async stop() {
      if (!started) return
      started = false
      await notifications.stop()
    },
  }
}
