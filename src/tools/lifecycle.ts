// lifecycle tools (issue 4; being written).
import type { AnyTool } from './define.js';

const tools: AnyTool[] = [];
export default tools;
