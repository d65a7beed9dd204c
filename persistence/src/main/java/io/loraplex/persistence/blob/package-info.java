/**
 * The content-addressed blob store of adapter files: {@code <root>/<tenant>/<contentHash>/} holding
 * {@code adapter_config.json} and {@code adapter_model.safetensors} (the layout GPU nodes read).
 * Uploads stream to {@code <root>/.tmp/<uploadId>/}, are checked (names, archive safety, size
 * limit), hashed, fsynced and atomically renamed into place; every read re-verifies the hash.
 * Safetensors content is not inspected here: a GPU node validates it against its base.
 */
package io.loraplex.persistence.blob;
