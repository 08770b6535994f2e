import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { type CompileOptions, compileArtifact, type Plan } from '../engine/plan.ts';
import { type Scenario, type ScenarioCase, ScenarioSchema } from '../engine/simulate.ts';
import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';
import { schemaIssues } from '../schema/validator.ts';
import { jsonErrorOffset, lineColumn } from './json-error.ts';

/**
 * Artifacts and scenarios on disk: JSON files, with script `path`s and scenario `artifact`s
 * resolved relative to the file that names them. Parse errors name the file, line and column.
 */

/** Parse a JSON file; a syntax error becomes a `ConfigError` located at line:column. */
export async function readJsonFile(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    const { line, column } = lineColumn(text, jsonErrorOffset(text));
    const reason = (error instanceof Error ? error.message : String(error)).split(/,| in JSON/)[0];
    throw new ConfigError(path, [
      { path: '$', message: `is not valid JSON at line ${line}, column ${column}: ${reason}` },
    ]);
  }
}

/** Read an artifact file and compile it; script paths are read relative to the file. */
export async function loadArtifactFile(path: string, options: CompileOptions = {}): Promise<Plan> {
  const artifact = await readJsonFile(path);
  const base = dirname(resolve(path));
  try {
    return await compileArtifact(artifact, {
      readSource: (scriptPath) => readFile(resolve(base, scriptPath), 'utf8'),
      ...options,
    });
  } catch (error) {
    // Name the file: a scenario run may load several artifacts.
    if (ConfigError.isInstance(error)) throw new ConfigError(path, error.issues);
    throw error;
  }
}

/** Every `*.json` file under `dir` (recursively), sorted, so runs list scenarios alike. */
export async function findJsonFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.json'))
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .sort();
}

export interface LoadedScenarios {
  cases: ScenarioCase[];
  /** Plans compiled for the scenarios, one per artifact file; dispose them when done. */
  plans: Map<string, Plan>;
}

/**
 * Load every scenario file in `dir` and compile each artifact they name once. A scenario file
 * holds one scenario or an array of them. Invalid files throw one `ConfigError` per file.
 */
export async function loadScenarioDir(
  dir: string,
  options: CompileOptions = {},
): Promise<LoadedScenarios> {
  const files = await findJsonFiles(dir);
  const plans = new Map<string, Plan>();
  const cases: ScenarioCase[] = [];
  try {
    for (const file of files) {
      const value = await readJsonFile(file);
      const list = Array.isArray(value) ? value : [value];
      const issues: ConfigIssue[] = [];
      list.forEach((item, index) => {
        const prefix = Array.isArray(value) ? `$[${index}]` : '$';
        for (const issue of schemaIssues(ScenarioSchema, item)) {
          issues.push({ ...issue, path: prefix + issue.path.slice(1) });
        }
      });
      if (issues.length > 0) throw new ConfigError(file, issues);
      for (const scenario of list as Scenario[]) {
        const artifactPath = resolve(dirname(file), scenario.artifact);
        let plan = plans.get(artifactPath);
        if (plan === undefined) {
          plan = await loadArtifactFile(artifactPath, options);
          plans.set(artifactPath, plan);
        }
        cases.push({
          name: scenario.name,
          plan,
          fixture: scenario.fixture,
          expect: scenario.expect,
          source: relative(process.cwd(), file),
        });
      }
    }
  } catch (error) {
    await Promise.all([...plans.values()].map((p) => p.dispose()));
    throw error;
  }
  return { cases, plans };
}
