export { type GeneratorOptions, type GeneratorStats, startGenerator } from './generator.js';
export { createVisitors, type DemoEvent, type VisitorsOptions } from './visitors.js';
