/**
 * Templates' public surface: the model, parameters, placeholders, instantiation, Tekton import and
 * export, the service and the starter library.
 */
export {
  PARAMETER_TYPES,
  ParameterType,
  TEMPLATE_METADATA_KEYS,
  TemplateCollections,
  type ParameterMap,
  type ParameterSpec,
  type Template,
  type TemplateDraft,
} from './template-model.ts'
export {
  PARAMETER_NAME_PATTERN,
  checkParameterSpecs,
  coerceParameterText,
  parseParameterAssignments,
  requireParameterValues,
  resolveParameterValues,
  sampleParameterValues,
  valueProblem,
} from './parameters.ts'
export {
  canonicalizePlaceholders,
  instantiatePlaceholders,
  placeholderScope,
  tektonPlaceholders,
  type PlaceholderDefault,
  type PlaceholderMode,
  type PlaceholderScope,
} from './placeholders.ts'
export { celLiteral, rewriteCelParameters } from './placeholder-syntax.ts'
export { TEMPLATE_ID_PATTERN, checkTemplateDraft, type WorkflowValidator } from './template-draft.ts'
export { checkInstantiateRequest, instantiateTemplate, type InstantiateRequest } from './instantiation.ts'
export {
  exportTektonTemplate,
  importTektonTemplate,
  readTektonTemplate,
  type TektonParameter,
  type TektonTask,
  type TektonTemplateFile,
  type TektonWorkflowDefinition,
} from './tekton-format.ts'
export {
  createTemplateService,
  type TemplateInstance,
  type TemplateQuery,
  type TemplateService,
  type TemplateServiceOptions,
  type TemplateStore,
} from './template-service.ts'
export { STARTER_TEMPLATES, type StarterTemplate } from './starter-library.ts'
