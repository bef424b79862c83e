// What a job's arguments may say, apart from the job service so that tool definitions load
// without it: seed 002's plan, project metadata, and the bounds of a job's lifetime.
import { z } from 'zod';

export const JOB_TTL_HOURS = { min: 1, max: 720 } as const;

/** Free-form labels, as strings (a number or boolean is kept as its text): one value type every
 *  client's schema dialect can express. Each is at most 1000 characters, checked but not listed
 *  (as the plan's bounds below). */
export const metadataSchema = z.record(
  z.string(),
  z.preprocess(
    (v) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v),
    z.string().refine((v) => v.length <= 1000, 'at most 1000 characters'),
  ),
);

// Its bounds are checked (refine) but not listed: tool definitions are paid for on every turn,
// and a plan near them is rare enough for the refusal to say so.
const upTo = (max: number, what: string) =>
  [(a: unknown[]) => a.length <= max, `at most ${max} ${what}`] as const;
/** Seed 002's plan: tasks naming the files they produce, and free-form metadata. */
export const planSchema = z.strictObject({
  tasks: z
    .array(
      z.strictObject({
        name: z.string().refine((n) => n.length >= 1 && n.length <= 500, 'a task name is 1-500 characters'),
        /** The workspace (agent) that writes the task's files. */
        owner: z.string().optional(),
        files: z
          .array(z.string())
          .refine(...upTo(1000, 'files per task'))
          .optional(),
      }),
    )
    .refine(...upTo(1000, 'tasks')),
  metadata: metadataSchema.optional().describe('e.g. {framework, language}'),
});

export type JobPlan = z.infer<typeof planSchema>;
