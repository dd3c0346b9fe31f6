import { LlmError } from './llm-errors';
import { parseModelRoutes, routeModels } from './model-routes';

describe('model routes', () => {
  const routes = parseModelRoutes({
    meta_optimization: ['qwen2.5:14b', 'llama3.1:8b', 'qwen2.5:14b'],
    tag_optimization: 'hf.co/org/model:Q4_K_M',
    '*': ['fallback:latest'],
  });

  it('reads lists and single names, keeping order and dropping repeats', () => {
    expect(routes.get('meta_optimization')).toEqual(['qwen2.5:14b', 'llama3.1:8b']);
    expect(routes.get('tag_optimization')).toEqual(['hf.co/org/model:Q4_K_M']);
  });

  it('routes: the requested model alone, else the task route, else *, else the default', () => {
    expect(routeModels(routes, 'default:1b', 'meta_optimization', 'explicit:7b')).toEqual(['explicit:7b']);
    expect(routeModels(routes, 'default:1b', 'meta_optimization')).toEqual(['qwen2.5:14b', 'llama3.1:8b']);
    expect(routeModels(routes, 'default:1b', 'schema_analysis')).toEqual(['fallback:latest']);
    const withoutWildcard = parseModelRoutes({ meta_optimization: ['a:1'] });
    expect(routeModels(withoutWildcard, 'default:1b', 'schema_analysis')).toEqual(['default:1b']);
  });

  it('refuses to guess when nothing is configured, and refuses malformed requested names', () => {
    const none = parseModelRoutes(undefined);
    expect(() => routeModels(none, undefined, 'meta_optimization')).toThrow(
      expect.objectContaining({ code: 'LLM_MODEL_NOT_CONFIGURED', status: 400, transient: false }),
    );
    expect(() => routeModels(none, 'default:1b', 'x', '../etc/passwd')).toThrow(LlmError);
    expect(() => routeModels(none, 'default:1b', 'x', '')).toThrow(
      expect.objectContaining({ code: 'LLM_MODEL_NAME_INVALID' }),
    );
  });

  it('reports every malformed route at once', () => {
    expect(() =>
      parseModelRoutes({ a: [], b: [42], c: 'has space', d: ['ok:1'], e: { model: 'x' } }),
    ).toThrow(/a: .*; b: 42 is not a model name; c: "has space" is not a model name; e: /);
  });
});
