package embedded

import "strings"

// What the statement guard (guard.go) refuses in client statements: every
// way a statement could make the engine read or write files, run programs
// or open network connections. The embedded engine runs inside Tracehouse
// with its user's rights, and its HTTP interface must not hand those out:
// a client gets ClickHouse's SQL over its own tables, nothing more. The
// lists are of ClickHouse 26.5; TestEveryEngineTableFunctionIsClassified
// fails when the engine knows a table function or engine that is in
// neither the refused nor the allowed list here.

// refusedFunctions are table functions, functions, engines and dictionary
// sources (lower case) that reach the file system, the network or other
// programs: refused wherever their name is followed by "(".
var refusedFunctions = setOf(
	// files and programs
	"file", "fileCluster", "filesystem", "executable", "executablePool", "executable_pool",
	"catboostEvaluate", "disk", "python",
	// object stores and data lakes
	"url", "urlCluster", "s3", "s3Cluster", "gcs", "oss", "cosn",
	"azureBlobStorage", "azureBlobStorageCluster", "hdfs", "hdfsCluster",
	"deltaLake", "hudi", "iceberg", "paimon", "ytsaurus",
	// other servers
	"remote", "remoteSecure", "cluster", "clusterAllReplicas",
	"mysql", "postgresql", "mongodb", "redis", "sqlite", "jdbc", "odbc",
	"http", "cassandra", "yamlRegExpTree", "arrowFlight",
	// engines named like a call: ENGINE = File(…)
	"fileLog", "kafka", "rabbitMQ", "nats", "s3Queue", "azureQueue", "embeddedRocksDB",
	"materializedMySQL", "materializedPostgreSQL", "hive", "dataLakeCatalog", "backup",
)

// refusedPrefixes catch the variants of a family (icebergS3Cluster,
// deltaLakeAzure, paimonHDFS, …), new ones included.
var refusedPrefixes = []string{"iceberg", "deltalake", "hudi", "paimon", "azureblob", "azurequeue", "hdfs", "s3", "ytsaurus", "arrowflight"}

// allowedWithPrefix are functions that share a refused prefix but compute
// values only.
var allowedWithPrefix = setOf("icebergBucket", "icebergHash", "icebergTruncate")

// refusedEngines are table and database engines refused after ENGINE,
// with or without arguments (ENGINE = Kafka SETTINGS … has none).
var refusedEngines = setOf(
	"File", "URL", "S3", "S3Queue", "GCS", "OSS", "COSN", "AzureBlobStorage", "AzureQueue", "HDFS",
	"Executable", "ExecutablePool", "FileLog", "Kafka", "RabbitMQ", "NATS", "EmbeddedRocksDB",
	"MySQL", "MaterializedMySQL", "PostgreSQL", "MaterializedPostgreSQL", "MongoDB", "Redis", "SQLite",
	"JDBC", "ODBC", "Hive", "YTsaurus", "ArrowFlight",
	"DeltaLake", "Hudi", "Iceberg", "Paimon",
	// database engines
	"Filesystem", "Backup", "DataLakeCatalog",
)

// refusedSettings name files the engine reads or writes (format schemas,
// templates, an error log) or change the query language the statement is
// written in, which the guard reads as ClickHouse SQL.
var refusedSettings = setOf(
	"format_schema", "format_template_resultset", "format_template_row", "output_format_schema",
	"input_format_record_errors_file_path",
	"dialect", "polyglot_dialect", "allow_experimental_prql_dialect", "allow_experimental_kusto_dialect",
	"allow_experimental_polyglot_dialect",
)

// engineSettings hold an engine name: their value is checked like ENGINE.
var engineSettings = setOf("default_table_engine", "default_temporary_table_engine")

// sqlInStrings are table functions some of whose string arguments the
// engine parses as SQL: a structure may carry DEFAULT expressions, and
// format(Values, …) data is evaluated. Their string arguments are checked
// as SQL too, and query parameters may not supply them.
var sqlInStrings = setOf("format", "values", "input", "generateRandom", "null", "fuzzJSON", "fuzzQuery", "viewExplain")

// dictionarySourceWords are the words a dictionary SOURCE(…) may use: the
// local CLICKHOUSE source (a table or a query of this engine) and NULL.
// HOST, PORT, USER, NAME (a named collection) and the other sources reach
// elsewhere.
var dictionarySourceWords = setOf("clickhouse", "null", "table", "db", "database", "query", "where",
	"invalidate_query", "update_field", "update_lag")

// systemAllowed are the SYSTEM statements a client may run: flushing,
// starting and stopping background work, waiting, reloading and dropping
// caches. SHUTDOWN and KILL would end Tracehouse itself; the rest (failure
// points, replica surgery, UNFREEZE, JEMALLOC, …) have no use here.
var systemAllowed = setOf("flush", "start", "stop", "sync", "wait", "reload", "refresh", "cancel", "prewarm",
	"load", "unload")

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = true
	}
	return m
}

// refusedFunction reports whether a call to name (any case) is refused.
func refusedFunction(name string) bool {
	lower := strings.ToLower(name)
	if refusedFunctions[lower] {
		return true
	}
	if allowedWithPrefix[lower] {
		return false
	}
	for _, p := range refusedPrefixes {
		if strings.HasPrefix(lower, p) {
			return true
		}
	}
	return false
}

// refusedEngine reports whether an engine name (any case) is refused.
func refusedEngine(name string) bool {
	return refusedEngines[strings.ToLower(name)] || refusedFunction(name)
}
