// A broken plugin for tests: it declares `conv`, which cella already has.
extern "C" const char* cella_plugin_signatures() { return R"([{"name": "conv", "params": []}])"; }
