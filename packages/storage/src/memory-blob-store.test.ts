import { createMemoryBlobStore } from './index.js';
import { runBlobStoreContract } from './contract.js';

runBlobStoreContract('memory', async () => ({ store: createMemoryBlobStore(), cleanup: async () => {} }));
