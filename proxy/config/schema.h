// The ringway.yaml schema: what each mapping accepts (schema.cc) and the checks across entries
// (validate.cc). Internal to the loader.
#pragma once

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "config/reader.h"

namespace ringway::config {

// False for protocols that parse but have no engine in this build yet; the one place to flip
// when one lands.
bool protocolImplemented(Protocol p);

// Shared by the schema tables: a name of [A-Za-z0-9_.-]+.
std::optional<std::string> readName(Reader& r, const YAML::Node& node, const std::string& path);

// route_schema.cc: HTTP routes, the http listener keys, a cluster's keepalive.
void readRoute(Reader& r, const YAML::Node& node, const std::string& path, Route& route);
void readHttpListenerKey(Reader& r, const YAML::Node& node, const std::string& path, Listener& l);
void readKeepalive(Reader& r, const YAML::Node& node, const std::string& path, Keepalive& k);
// Per listener: tcp routes take only a cluster; http routes exactly one action, and so on.
void checkRoutes(Reader& r, const std::string& path, const Listener& l);
// validate.cc: "a route an earlier one shadows" warnings.
void warnShadowedRoutes(Reader& r, Config& cfg);

// tls_schema.cc: `tls:` blocks of listeners and clusters, `match: { sni }`.
void readListenerTls(Reader& r, const YAML::Node& node, const std::string& path, Listener& l);
void readClusterTls(Reader& r, const YAML::Node& node, const std::string& path, Cluster& c);
void readSniMatch(Reader& r, const YAML::Node& node, const std::string& path, RouteMatch& m);
// Routes of this listener may match on sni (tls_passthrough, or tcp terminating TLS).
bool sniRouted(const Listener& l);
// After a listener's mapping: where tls and sni may appear, one default route, no duplicate sni.
void checkListenerTls(Reader& r, const std::string& path, const Listener& l);
// After everything is read: resolves file names against the config file's directory, loads
// every certificate, key and CA (errors at the key naming the file, expiry as a warning), and
// makes each listener's shared ticket keys.
void loadTls(Reader& r, Config& cfg);

// access_log_schema.cc: `access_log:` of http listeners; after everything is read, resolves
// the paths against the config file's directory and checks they can be written.
void readAccessLog(Reader& r, const YAML::Node& node, const std::string& path, Listener& l);
void checkAccessLogs(Reader& r, Config& cfg);

// Fills `cfg` from the root node; problems go to `r`.
void readConfig(Reader& r, const YAML::Node& root, Config& cfg);

// Cross-entry checks once everything is read: unique names, cluster references (sets
// Route::cluster_index), address conflicts.
void validateConfig(Reader& r, Config& cfg);

} // namespace ringway::config
