// Imported first by the CLI entry, so it holds before any SDK client is built: the locked SDK
// supports Node 20, and its notice about releases a year from now is noise in every command.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
