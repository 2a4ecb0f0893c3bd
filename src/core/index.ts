/**
 * Core's public surface. Definitions, expressions, the task graph, retry policies, input schemas and
 * workflow validation; other core modules add their exports here.
 */
export {
  MAX_TASK_NAME_LENGTH,
  normalizeDefinition,
  parseDefinition,
  taskNameProblem,
  type DefinitionFormat,
} from './definition.ts'
export {
  EXPRESSION_LIMITS,
  EXPRESSION_ROOTS,
  analyzeCondition,
  analyzeValue,
  compileCondition,
  compileValue,
  type CompileOptions,
  type ExpressionLocation,
  type ExpressionReference,
  type ExpressionReferences,
  type ExpressionRoot,
  type ValueAnalysis,
} from './expressions.ts'
export { toJsonResult } from './expression-language.ts'
export {
  mayHoldExpression,
  scanTemplate,
  type TemplateScan,
  type TemplateSegment,
} from './expression-template.ts'
export { buildTaskGraph, formatCycle, topologicalOrder, upstreamChecker, type TaskGraph } from './graph.ts'
export {
  buildInputSchema,
  compileInputValidator,
  inputValidatorFor,
  type InputValidator,
} from './input-schema.ts'
export { regexProblem } from './regex-safety.ts'
export {
  DEFAULT_RETRY_POLICY,
  RETRY_LIMITS,
  checkRetryPolicy,
  isRetriable,
  resolveRetryPolicy,
  retryDelayMs,
  type RetryLocation,
} from './retry-policy.ts'
export {
  DEFAULT_FOR_EACH_CONCURRENCY,
  MAX_REPORTED_ISSUES,
  compileWorkflow,
  validateWorkflow,
  type CompileWorkflowOptions,
} from './validate.ts'
