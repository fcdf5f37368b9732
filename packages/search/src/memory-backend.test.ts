import { runSearchBackendContract } from './contract.js';
import { createMemorySearchBackend } from './memory-backend.js';

runSearchBackendContract('memory', async () => {
  const backend = createMemorySearchBackend();
  return { backend, cleanup: () => backend.close() };
});
