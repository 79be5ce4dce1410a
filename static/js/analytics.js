// analytics page: a placeholder until its page is built (phase 2 of the pages issue).
// Import shared helpers from "./common.js"; the live connection is already open (liveSocket()).
