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

// Fills `cfg` from the root node; problems go to `r`.
void readConfig(Reader& r, const YAML::Node& root, Config& cfg);

// Cross-entry checks once everything is read: unique names, cluster references (sets
// Route::cluster_index), address conflicts.
void validateConfig(Reader& r, Config& cfg);

} // namespace ringway::config
