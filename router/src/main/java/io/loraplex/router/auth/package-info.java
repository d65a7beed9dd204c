/** API keys: the local view of the replicated key index (key hash → tenant) and bearer-token parsing. */
package io.loraplex.router.auth;
