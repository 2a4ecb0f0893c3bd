/**
 * The starter library: templates Harmonia ships with, inserted once under stable ids by
 * `templateService.loadStarterLibrary()` (see template-service.ts).
 *
 * They use the built-in components: `http.request` (answers `{status, headers, body}`; fails with
 * SERVER_ERROR, RATE_LIMITED, CONNECTION_ERROR, TIMEOUT (retriable) or HTTP_<status>), `core.transform`,
 * `core.wait_for_signal` (input `{signal, timeout_ms}`, output: the payload the signal was sent with) and
 * `llm.generate` (input `{prompt, system, max_tokens}`, output `{text}`).
 */
import type { JsonObject } from '../core/model.ts'
import type { TemplateDraft } from './template-model.ts'

/**
 * A starter template as written here: a template body whose workflow definition may hold placeholders
 * anywhere (`retry.max_attempts: '${param.attempts}'`), checked like any template when it is inserted.
 */
export type StarterTemplate = Omit<TemplateDraft, 'template_id' | 'workflow_definition'> & {
  template_id: string
  workflow_definition: JsonObject
}

const TRANSIENT_ERRORS = ['SERVER_ERROR', 'RATE_LIMITED', 'CONNECTION_ERROR', 'TIMEOUT']
const metadata: JsonObject = { author: 'Harmonia', starter: true }

const httpHealthCheck: StarterTemplate = {
  template_id: 'starter-http-health-check',
  name: 'HTTP health check with alert',
  description:
    'Calls a URL and posts an alert to a webhook when the call fails or answers another status than expected. Schedule it to monitor a service.',
  parameters: {
    url: {
      type: 'string',
      required: true,
      description: 'The URL to check, e.g. https://api.example.com/health.',
    },
    expected_status: {
      type: 'integer',
      required: false,
      default: 200,
      description: 'The HTTP status a healthy service answers.',
    },
    alert_url: {
      type: 'string',
      required: true,
      description:
        'Webhook that receives the alert as JSON: {text, url, expected_status, status, error} (Slack-compatible text).',
    },
    timeout_ms: {
      type: 'integer',
      required: false,
      default: 5000,
      description: 'How long one check may take, in milliseconds.',
    },
    attempts: {
      type: 'integer',
      required: false,
      default: 3,
      description:
        'Attempts before the check counts as failed; timeouts, connection errors and 5xx answers are retried.',
    },
  },
  workflow_definition: {
    name: 'http-health-check',
    description: 'Check ${param.url}; alert ${param.alert_url} when it is unhealthy',
    tasks: {
      check: {
        name: 'check',
        title: 'Call the URL',
        component: 'http',
        action: 'request',
        input: { method: 'GET', url: '${param.url}', timeout_ms: '${param.timeout_ms}' },
        retry: {
          max_attempts: '${param.attempts}',
          initial_delay_ms: 1000,
          backoff_factor: 2,
          retriable_errors: TRANSIENT_ERRORS,
        },
        // A failed check is what the alert reports, not a failure of the workflow.
        on_failure: 'continue',
      },
      alert: {
        name: 'alert',
        title: 'Post the alert',
        component: 'http',
        action: 'request',
        depends_on: ['check'],
        trigger_rule: 'all_done',
        when: 'tasks.check.status != "completed" || tasks.check.output.status != param.expected_status',
        input: {
          method: 'POST',
          url: '${param.alert_url}',
          json: {
            text: 'Health check failed for ${param.url}: ${tasks.check.status == "completed" ? "answered " + string(tasks.check.output.status) : tasks.check.error.message}',
            url: '${param.url}',
            expected_status: '${param.expected_status}',
            status: '${tasks.check.status == "completed" ? tasks.check.output.status : null}',
            error: '${tasks.check.status == "completed" ? null : tasks.check.error.code}',
          },
        },
        retry: { max_attempts: 3, retriable_errors: TRANSIENT_ERRORS },
      },
    },
    output: {
      healthy: '${tasks.check.status == "completed" && tasks.check.output.status == param.expected_status}',
      status: '${tasks.check.status == "completed" ? tasks.check.output.status : null}',
      alerted: '${tasks.alert.status == "completed"}',
    },
  },
  tags: ['monitoring', 'http', 'alerting'],
  category: 'monitoring',
  is_public: true,
  metadata,
}

const fetchTransformPost: StarterTemplate = {
  template_id: 'starter-fetch-transform-post',
  name: 'Fetch, transform and post JSON',
  description:
    'Fetches JSON from one service, picks a field and wraps it with where it came from, and posts the result to another service.',
  parameters: {
    source_url: { type: 'string', required: true, description: 'Where the JSON is fetched (GET).' },
    field: {
      type: 'string',
      required: false,
      default: '',
      description: 'Top-level field of the fetched JSON to forward; empty forwards the whole body.',
    },
    target_url: {
      type: 'string',
      required: true,
      description: 'Where the result is posted (POST, JSON body).',
    },
    target_headers: {
      type: 'object',
      required: false,
      default: {},
      description: 'Extra headers for the POST, e.g. {"X-Source": "harmonia"}.',
    },
  },
  workflow_definition: {
    name: 'fetch-transform-post',
    tasks: {
      fetch: {
        name: 'fetch',
        title: 'Fetch the source JSON',
        component: 'http',
        action: 'request',
        input: { method: 'GET', url: '${param.source_url}', headers: { Accept: 'application/json' } },
        retry: 3,
      },
      transform: {
        name: 'transform',
        title: 'Pick and wrap the data',
        component: 'core',
        action: 'transform',
        depends_on: ['fetch'],
        input: {
          source: '${param.source_url}',
          execution_id: '${execution.id}',
          data: '${param.field == "" ? tasks.fetch.output.body : tasks.fetch.output.body[param.field]}',
        },
      },
      post: {
        name: 'post',
        title: 'Post the result',
        component: 'http',
        action: 'request',
        depends_on: ['transform'],
        input: {
          method: 'POST',
          url: '${param.target_url}',
          headers: '${param.target_headers}',
          json: '${tasks.transform.output}',
        },
        retry: {
          max_attempts: 4,
          initial_delay_ms: 1000,
          backoff_factor: 2,
          retriable_errors: TRANSIENT_ERRORS,
        },
      },
    },
    output: { posted_status: '${tasks.post.output.status}', data: '${tasks.transform.output.data}' },
  },
  tags: ['integration', 'http', 'etl'],
  category: 'integration',
  is_public: true,
  metadata,
}

const approvalBeforeDeploy: StarterTemplate = {
  template_id: 'starter-approval-before-deploy',
  name: 'Deploy after approval',
  description:
    "Asks for approval in a chat webhook, waits (durably, across restarts) for the 'deploy_approval' signal, and calls the deploy endpoint only when the signal says approved.",
  parameters: {
    service: { type: 'string', required: true, description: 'The service to deploy.' },
    version: { type: 'string', required: true, description: 'The version (tag, commit) to deploy.' },
    environment: {
      type: 'select',
      required: false,
      options: ['staging', 'production'],
      default: 'staging',
      description: 'Where to deploy.',
    },
    notify_url: {
      type: 'string',
      required: true,
      description: 'Chat webhook the approval request is posted to (JSON with a text field).',
    },
    deploy_url: {
      type: 'string',
      required: true,
      description: 'Deploy endpoint; receives {service, version, environment, approval} as a JSON POST.',
    },
    approval_timeout_ms: {
      type: 'integer',
      required: false,
      default: 86_400_000,
      description: 'How long to wait for the approval, in milliseconds (default one day).',
    },
  },
  workflow_definition: {
    name: 'approval-before-deploy',
    description: 'Deploy ${param.service} ${param.version} to ${param.environment} once approved',
    tasks: {
      request_approval: {
        name: 'request_approval',
        title: 'Ask for approval',
        component: 'http',
        action: 'request',
        input: {
          method: 'POST',
          url: '${param.notify_url}',
          json: {
            text: 'Approve deploying ${param.service} ${param.version} to ${param.environment}? Send the signal \'deploy_approval\' to execution ${execution.id} with {"approved": true, "approved_by": "<name>"} (or "approved": false).',
            execution_id: '${execution.id}',
            signal: 'deploy_approval',
          },
        },
        retry: { max_attempts: 3, retriable_errors: TRANSIENT_ERRORS },
      },
      wait_for_approval: {
        name: 'wait_for_approval',
        title: 'Wait for the approval signal',
        component: 'core',
        action: 'wait_for_signal',
        depends_on: ['request_approval'],
        input: { signal: 'deploy_approval', timeout_ms: '${param.approval_timeout_ms}' },
      },
      deploy: {
        name: 'deploy',
        title: 'Deploy',
        component: 'http',
        action: 'request',
        depends_on: ['wait_for_approval'],
        when: 'tasks.wait_for_approval.output.approved == true',
        input: {
          method: 'POST',
          url: '${param.deploy_url}',
          json: {
            service: '${param.service}',
            version: '${param.version}',
            environment: '${param.environment}',
            approval: '${tasks.wait_for_approval.output}',
          },
        },
        retry: { max_attempts: 3, retriable_errors: TRANSIENT_ERRORS },
      },
    },
    output: {
      approved: '${tasks.wait_for_approval.output.approved == true}',
      deployed: '${tasks.deploy.status == "completed"}',
    },
  },
  tags: ['deployment', 'approval', 'human-in-the-loop'],
  category: 'deployment',
  is_public: true,
  metadata,
}

const summarizeDocument: StarterTemplate = {
  template_id: 'starter-summarize-document',
  name: 'Summarize a document',
  description: 'Fetches a document over HTTP and summarizes it with the configured LLM.',
  parameters: {
    document_url: {
      type: 'string',
      required: true,
      description: 'Where the document is fetched (GET); text or JSON.',
    },
    instructions: {
      type: 'text',
      required: false,
      default:
        'Summarize the document in at most five bullet points for a busy reader. Keep numbers and names exact.',
      description: 'What the summary should look like.',
    },
    max_tokens: {
      type: 'integer',
      required: false,
      default: 500,
      description: 'Longest summary, in tokens.',
    },
  },
  workflow_definition: {
    name: 'summarize-document',
    tasks: {
      fetch: {
        name: 'fetch',
        title: 'Fetch the document',
        component: 'http',
        action: 'request',
        input: { method: 'GET', url: '${param.document_url}' },
        retry: 3,
      },
      summarize: {
        name: 'summarize',
        title: 'Summarize',
        component: 'llm',
        action: 'generate',
        depends_on: ['fetch'],
        input: {
          system: 'You summarize documents faithfully. Never invent facts that are not in the document.',
          prompt: '${param.instructions}\n\nDocument (${param.document_url}):\n${tasks.fetch.output.body}',
          max_tokens: '${param.max_tokens}',
        },
        retry: {
          max_attempts: 3,
          initial_delay_ms: 2000,
          backoff_factor: 2,
          retriable_errors: TRANSIENT_ERRORS,
        },
      },
    },
    output: { summary: '${tasks.summarize.output.text}' },
  },
  tags: ['llm', 'summarization', 'documents'],
  category: 'ai',
  is_public: true,
  metadata,
}

const pollFlakyApi: StarterTemplate = {
  template_id: 'starter-poll-flaky-api',
  name: 'Poll a flaky API until it is ready',
  description:
    'Calls a status endpoint until it answers the ready status, retrying (with capped exponential backoff) through pending answers (202, 404, 409, 425), 5xx, 429, timeouts and connection errors.',
  parameters: {
    status_url: { type: 'string', required: true, description: 'The endpoint to poll (GET).' },
    ready_status: {
      type: 'integer',
      required: false,
      default: 200,
      description: 'The status that means ready.',
    },
    headers: { type: 'object', required: false, default: {}, description: 'Headers sent with every poll.' },
    max_attempts: {
      type: 'integer',
      required: false,
      default: 30,
      description: 'Polls before giving up (at most 100).',
    },
    initial_delay_ms: {
      type: 'integer',
      required: false,
      default: 2000,
      description: 'Wait before the second poll, in milliseconds.',
    },
    max_delay_ms: {
      type: 'integer',
      required: false,
      default: 60_000,
      description: 'Longest wait between polls, in milliseconds.',
    },
    timeout_ms: {
      type: 'integer',
      required: false,
      default: 10_000,
      description: 'How long one poll may take, in milliseconds.',
    },
  },
  workflow_definition: {
    name: 'poll-flaky-api',
    tasks: {
      poll: {
        name: 'poll',
        title: 'Poll until ready',
        component: 'http',
        action: 'request',
        input: {
          method: 'GET',
          url: '${param.status_url}',
          headers: '${param.headers}',
          expect_status: ['${param.ready_status}'],
          timeout_ms: '${param.timeout_ms}',
        },
        retry: {
          max_attempts: '${param.max_attempts}',
          initial_delay_ms: '${param.initial_delay_ms}',
          backoff_factor: 1.5,
          max_delay_ms: '${param.max_delay_ms}',
          jitter: 0.2,
          retriable_errors: ['HTTP_202', 'HTTP_404', 'HTTP_409', 'HTTP_425', ...TRANSIENT_ERRORS],
        },
      },
    },
    output: { status: '${tasks.poll.output.status}', body: '${tasks.poll.output.body}' },
  },
  tags: ['http', 'polling', 'retry'],
  category: 'integration',
  is_public: true,
  metadata,
}

/** The starter templates, each with a stable `template_id`. */
export const STARTER_TEMPLATES: readonly StarterTemplate[] = Object.freeze([
  httpHealthCheck,
  fetchTransformPost,
  approvalBeforeDeploy,
  summarizeDocument,
  pollFlakyApi,
])
