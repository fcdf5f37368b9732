export { createPublishApp, type PublishAppDeps } from './app.js';
export { pushPackage, setListed, type PublishDeps, type PublishResult } from './publish-service.js';
export { receiveUpload, PayloadTooLargeError, InvalidRequestError, type ReceivedUpload } from './upload.js';
export { InsufficientStorageError, UnavailableError } from './unavailable.js';
