// Generation jobs: a project of kind 'job' whose files are written with the file tools and leave
// as one zip artifact (service.ts): what the zip holds (job-files.ts) and how it is written
// (job-zip.ts) live apart. What a job's arguments may say lives apart too (plan.ts): tools
// import it from there, so their definitions load without the service. Re-exports what the
// composition (stowage.ts) uses.
export { createJobService } from './service.js';
