import { parseCohorts, parseExperiments, parseFlags, parseGroupTypes, type Definitions } from '../definitions/definitions.js'
import type { PostHogClient } from './client.js'

/** Flags, experiments (each one), cohorts and group types, validated as the offline files are. */
export async function fetchDefinitions(client: PostHogClient, onNote?: (message: string) => void): Promise<Definitions> {
  const [flags, experiments, cohorts, groupTypes] = await Promise.all([client.listFlags(), client.listExperiments(), client.listCohorts(), client.listGroupTypes()])
  const at = (path: string) => `${client.base}${path}`
  return {
    flags: parseFlags(at('feature_flags/'), flags, onNote),
    experiments: parseExperiments(at('experiments/:id/'), experiments),
    cohorts: parseCohorts(at('cohorts/'), cohorts),
    groupTypes: parseGroupTypes(at('groups_types/'), groupTypes),
  }
}
