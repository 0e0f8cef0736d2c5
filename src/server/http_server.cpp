#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cmath>
#include <chrono>
#include <ctime>
#include <thread>

#include "server/answer_writer.h"
#include "server/generation_group.h"
#include "server/messages_request.h"
#include "server/start_generation.h"
#include "server/translated_apis.h"
#include "server/metrics.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/log.h"

namespace dsinfer::server {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const char* endpoint_label(const std::string& path) {
  for (const char* p : {"/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/messages", "/v1/messages/count_tokens",
                        "/v1/models", "/health", "/metrics", "/tokenize", "/detokenize", "/api/chat", "/api/generate",
                        "/api/tags", "/api/show", "/api/ps", "/api/version"})
    if (path == p) return p;
  if (path == "/responses") return "/v1/responses";
  if (path.rfind("/v1/responses/", 0) == 0 || path.rfind("/responses/", 0) == 0) return "/v1/responses/{id}";
  if (path == "/chat/completions") return "/v1/chat/completions";
  if (path == "/completions") return "/v1/completions";
  if (path == "/models") return "/v1/models";
  return "other";
}

// Anthropic's Messages API answers errors in its own shape ({"type": "error", "error": {"type", "message"}}),
// Ollama's API as {"error": "message"}; the rest as OpenAI's error object.
enum class ErrorStyle { kOpenAI, kAnthropic, kOllama };
ErrorStyle error_style(const std::string& path) {
  if (path.rfind("/v1/messages", 0) == 0) return ErrorStyle::kAnthropic;
  if (path.rfind("/api/", 0) == 0) return ErrorStyle::kOllama;
  return ErrorStyle::kOpenAI;
}

void write_error(httplib::Response& res, const ApiError& e, ErrorStyle style = ErrorStyle::kOpenAI) {
  res.status = e.status;
  if (e.retry_after > 0) res.set_header("Retry-After", std::to_string(static_cast<int64_t>(std::ceil(e.retry_after))));
  std::string body;
  if (style == ErrorStyle::kAnthropic) body = dump_json(anthropic_error_json(e));
  else if (style == ErrorStyle::kOllama) body = dump_json(ollama_error_json(e));
  else body = dump_json(e.to_json());
  res.set_content(body, "application/json");
}

// Whether a browser page from `origin` may call the server (ServerOptions::cors_origins).
bool cors_allows(const std::vector<std::string>& origins, const std::string& origin) {
  return std::any_of(origins.begin(), origins.end(), [&](const std::string& o) { return o == "*" || o == origin; });
}

}  // namespace

struct HttpServer::Impl {
  ServerOptions options;
  Scheduler& scheduler;
  const Tokenizer& tokenizer;
  ServerMetrics metrics;
  GenerationContext context{options, scheduler, tokenizer, metrics, ChatFormat::kDeepSeekV3, {}, {}, {}};
  httplib::Server http;
  std::atomic<bool> shutting_down{false};
  std::atomic<int> active_streams{0};
  int64_t created = unix_now();

  Impl(const ServerOptions& o, Scheduler& s, const Tokenizer& t)
      : options(o), scheduler(s), tokenizer(t), responses(1024, o.responses_store_bytes) {}

  ResponseStore responses;  // the Responses API's stored responses (previous_response_id, GET /v1/responses/{id})

  void routes();
  void generate(const httplib::Request& req, httplib::Response& res, bool chat);  // chat / text completions
  // Sends a started generation's answer through `writer`, streamed or whole.
  void answer(httplib::Response& res, const StartedGeneration& started, std::unique_ptr<AnswerWriter> writer);
};

HttpServer::HttpServer(const ServerOptions& options, Scheduler& scheduler, const Tokenizer& tokenizer)
    : impl_(std::make_unique<Impl>(options, scheduler, tokenizer)) {
  GenerationContext& c = impl_->context;
  if (options.chat_format) {
    c.format = *options.chat_format;
  } else {
    bool recognized = false;
    c.format = detect_chat_format(tokenizer.chat_template(), &recognized);
    if (!recognized) log_warn("the model's chat template is not a known DeepSeek template; using ", chat_format_name(c.format));
  }
  if (tokenizer.bos_id() >= 0) c.bos_text = tokenizer.token_bytes(tokenizer.bos_id());
  if (!options.scripted_answer.empty()) {
    EncodeOptions eo;
    eo.add_bos = false;
    c.scripted_tokens = tokenizer.encode(options.scripted_answer, eo);
  }
  c.constraint_vocab = ConstraintVocab::from(tokenizer);
  impl_->routes();
}

HttpServer::~HttpServer() = default;

ChatFormat HttpServer::chat_format() const { return impl_->context.format; }

int HttpServer::bind() {
  auto& http = impl_->http;
  const auto& o = impl_->options;
  // cpp-httplib listens with a backlog of 5 (compiled into Debian's library): a burst of new connections
  // then loses SYNs and waits a full second for the retransmit. Listening again on the same socket only
  // raises the backlog (Linux), so the socket is taken as it is created.
  int listen_fd = -1;
  http.set_socket_options([&listen_fd](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_fd = sock;
  });
  int port = o.port;
  if (o.port == 0) {
    port = http.bind_to_any_port(o.host);
    if (port <= 0) fail("cannot listen on ", o.host, " (any port)");
  } else if (!http.bind_to_port(o.host, o.port)) {
    fail("cannot listen on ", o.host, ":", o.port, " (in use, or not an address of this machine)");
  }
  if (listen_fd >= 0) ::listen(listen_fd, 1024);
  return port;
}

void HttpServer::run() { impl_->http.listen_after_bind(); }

void HttpServer::stop() { impl_->http.stop(); }

void HttpServer::set_shutting_down() { impl_->shutting_down = true; }

void HttpServer::drain(double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (impl_->active_streams.load() > 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
}

void HttpServer::Impl::generate(const httplib::Request& req, httplib::Response& res, bool chat) {
  const StartedGeneration started = start_generation(context, req.body, chat, std::chrono::steady_clock::now());
  answer(res, started, completion_writer(chat, started.include_usage, started.stream));
}

void HttpServer::Impl::answer(httplib::Response& res, const StartedGeneration& started, std::unique_ptr<AnswerWriter> w) {
  auto gen = started.group;
  std::shared_ptr<AnswerWriter> writer = std::move(w);

  if (!started.stream) {
    // The whole answer is sent at the end, but as a chunked body that starts with a space every 250 ms
    // (JSON allows leading whitespace): writing is the only way cpp-httplib lets a handler notice that
    // the client has gone, and a gone client must free its sequence. The status is 200 from the first
    // space on, so a failure inside the engine arrives as an error object with status 200.
    ++active_streams;
    auto last_write = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    res.set_chunked_content_provider(
        "application/json",
        [gen, writer, last_write](size_t, httplib::DataSink& sink) {
          const auto progress = gen->pump([&](const ResponseJson& c) { writer->chunk(c); return true; }, 250ms);
          if (progress == Generation::Progress::kDone) {
            const std::string body = writer->body(*gen);
            const bool ok = sink.write(body.data(), body.size());
            if (ok) sink.done();
            return ok;
          }
          const auto now = std::chrono::steady_clock::now();
          if (now - *last_write >= 250ms) {
            *last_write = now;
            if (!sink.write(" ", 1)) {
              gen->cancel();
              return false;
            }
          }
          return true;
        },
        [gen, this](bool) {
          gen->cancel();
          --active_streams;
        });
    return;
  }

  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  auto began = std::make_shared<bool>(false);  // the first chunks went out
  ++active_streams;  // the releaser below always runs (httplib calls it when the response is destroyed)
  res.set_chunked_content_provider(
      writer->stream_type(),
      [gen, writer, began](size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& s) { return s.empty() || sink.write(s.data(), s.size()); };
        if (!*began) {
          *began = true;
          if (!write(writer->begin(*gen))) {
            gen->cancel();
            return false;
          }
        }
        bool ok = true;
        const auto progress = gen->pump([&](const ResponseJson& c) { return ok = ok && write(writer->chunk(c)); }, 1000ms);
        // Something harmless while nothing happens (queued, long prefill): an SSE comment line, or a space
        // before Ollama's next JSON line; writing is how a vanished client is noticed.
        if (progress == Generation::Progress::kIdle) ok = write(writer->keep_alive());
        if (!ok) {
          gen->cancel();
          return false;
        }
        if (progress == Generation::Progress::kDone) {
          write(writer->end(*gen));
          sink.done();
        }
        return true;
      },
      [gen, this](bool) {
        gen->cancel();
        --active_streams;
      });
}

void HttpServer::Impl::routes() {
  http.new_task_queue = [n = options.http_threads] { return new httplib::ThreadPool(static_cast<size_t>(n)); };
  http.set_payload_max_length(options.limits.max_body_bytes);
  http.set_keep_alive_timeout(2);
  http.set_read_timeout(60);
  http.set_write_timeout(30);

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // CORS first: a browser's preflight (OPTIONS) carries no Authorization header.
    const std::string origin = req.get_header_value("Origin");
    const bool allowed = !origin.empty() && cors_allows(options.cors_origins, origin);
    if (allowed) {
      res.set_header("Access-Control-Allow-Origin", origin);
      res.set_header("Vary", "Origin");
    }
    if (req.method == "OPTIONS" && !origin.empty() && req.has_header("Access-Control-Request-Method")) {
      if (!allowed) {
        write_error(res, ApiError(403, cat("the origin '", origin, "' may not call this server (see dsinfer serve --cors)"), "",
                                  "cors_origin_not_allowed", "invalid_request_error"));
        return httplib::Server::HandlerResponse::Handled;
      }
      res.status = 204;
      res.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
      const std::string wanted = req.get_header_value("Access-Control-Request-Headers");
      res.set_header("Access-Control-Allow-Headers", wanted.empty() ? "Authorization, Content-Type, x-api-key" : wanted);
      res.set_header("Access-Control-Max-Age", "600");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (options.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    // "Authorization: Bearer KEY" (OpenAI clients) or "x-api-key: KEY" (Anthropic clients).
    if (authorization_matches(req.get_header_value("Authorization"), options.api_key) ||
        (req.has_header("x-api-key") && constant_time_equal(req.get_header_value("x-api-key"), options.api_key)))
      return httplib::Server::HandlerResponse::Unhandled;
    write_error(res, ApiError(401, "Incorrect API key provided. Pass it as 'Authorization: Bearer KEY' (or 'x-api-key: KEY').", "",
                              "invalid_api_key", "invalid_request_error"), error_style(req.path));
    return httplib::Server::HandlerResponse::Handled;
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const ErrorStyle style = error_style(req.path);
    if (res.status == 413) {
      write_error(res, ApiError(413, "the request body is too large", "", "request_too_large"), style);
    } else if (res.status == 404) {
      write_error(res, ApiError(404, cat("Unknown request URL: ", req.method, " ", req.path), "", "unknown_url"), style);
    } else {
      write_error(res, ApiError(res.status, cat("HTTP error ", res.status)), style);
    }
  });
  http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    write_error(res, ApiError(500, what, "", "internal_error", "server_error"), error_style(req.path));
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics.count_request(endpoint_label(req.path), res.status);
  });

  // Errors caused by the request become OpenAI error objects.
  auto guarded = [](auto handle) {
    return [handle](const httplib::Request& req, httplib::Response& res) {
      const ErrorStyle style = error_style(req.path);
      try {
        handle(req, res);
      } catch (const ApiError& e) {
        write_error(res, e, style);
      } catch (const Error& e) {  // tokenizer and other library errors caused by the input
        write_error(res, ApiError(400, e.what()), style);
      }
    };
  };
  auto generating = [this, &guarded](bool chat) {
    return guarded([this, chat](const httplib::Request& req, httplib::Response& res) { generate(req, res, chat); });
  };
  for (const char* p : {"/v1/chat/completions", "/chat/completions"}) http.Post(p, generating(true));
  // The Responses API and Anthropic's Messages API: translated into chat requests (translated_apis.h).
  for (const char* p : {"/v1/responses", "/responses"})
    http.Post(p, guarded([this](const httplib::Request& req, httplib::Response& res) {
      StartedAnswer a = start_response(context, req.body, responses, std::chrono::steady_clock::now());
      answer(res, a.started, std::move(a.writer));
    }));
  // Ollama's API (ollama_api.h): the same model and scheduler, Ollama's bodies and answers.
  for (const char* p : {"/api/chat", "/api/generate"})
    http.Post(p, guarded([this, generate = std::string(p) == "/api/generate"](const httplib::Request& req, httplib::Response& res) {
      StartedAnswer a = start_ollama(context, req.body, generate, std::chrono::steady_clock::now());
      answer(res, a.started, std::move(a.writer));
    }));
  auto ollama_model = [this] {
    OllamaModelInfo m = options.model_info;
    m.name = options.model_name;
    m.context_length = scheduler.options().max_context;
    return m;
  };
  http.Get("/api/tags", [ollama_model](const httplib::Request&, httplib::Response& res) {
    res.set_content(dump_json(ollama_tags(ollama_model(), false)), "application/json");
  });
  http.Get("/api/ps", [ollama_model](const httplib::Request&, httplib::Response& res) {
    res.set_content(dump_json(ollama_tags(ollama_model(), true)), "application/json");
  });
  http.Post("/api/show", guarded([this, ollama_model](const httplib::Request& req, httplib::Response& res) {
    parse_json_body(req.body, options.limits);
    res.set_content(dump_json(ollama_show(ollama_model(), true, context.format != ChatFormat::kDeepSeekV3)), "application/json");
  }));
  http.Get("/api/version", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(dump_json(nlohmann::ordered_json{{"version", kOllamaApiVersion}}), "application/json");
  });
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("dsinfer is running (OpenAI, Anthropic and Ollama APIs)", "text/plain");
  });
  http.Post("/v1/messages", guarded([this](const httplib::Request& req, httplib::Response& res) {
    StartedAnswer a = start_message(context, req.body, std::chrono::steady_clock::now());
    answer(res, a.started, std::move(a.writer));
  }));
  http.Post("/v1/messages/count_tokens", guarded([this](const httplib::Request& req, httplib::Response& res) {
    res.set_content(dump_json(count_message_tokens(context, req.body)), "application/json");
  }));
  // Stored responses: GET returns one, DELETE forgets it, input_items lists the items its request sent.
  for (const char* p : {R"(/v1/responses/([^/]+)/input_items)", R"(/responses/([^/]+)/input_items)"}) {
    http.Get(p, guarded([this](const httplib::Request& req, httplib::Response& res) {
      const auto stored = responses.get(req.matches[1]);
      if (!stored) throw ApiError(404, cat("Response with id '", std::string(req.matches[1]), "' not found."), "response_id", "not_found");
      res.set_content(dump_json(input_items_page(*stored, req.get_param_value("order"), req.get_param_value("limit"),
                                                 req.get_param_value("after"))),
                      "application/json");
    }));
  }
  for (const char* p : {R"(/v1/responses/([^/]+))", R"(/responses/([^/]+))"}) {
    http.Get(p, guarded([this](const httplib::Request& req, httplib::Response& res) {
      const auto stored = responses.get(req.matches[1]);
      if (!stored) throw ApiError(404, cat("Response with id '", std::string(req.matches[1]), "' not found."), "response_id", "not_found");
      res.set_content(dump_json(stored->response), "application/json");
    }));
    http.Delete(p, guarded([this](const httplib::Request& req, httplib::Response& res) {
      const std::string id = req.matches[1];
      if (!responses.erase(id)) throw ApiError(404, cat("Response with id '", id, "' not found."), "response_id", "not_found");
      res.set_content(dump_json(json{{"id", id}, {"object", "response"}, {"deleted", true}}), "application/json");
    }));
  }
  for (const char* p : {"/v1/completions", "/completions"}) http.Post(p, generating(false));
  // The model object, for OpenAI's clients and Anthropic's ("type", "display_name", "created_at"); max_model_len
  // (as vLLM names it) tells clients the context a request may fill.
  auto model_json = [this] {
    char created_at[32];
    const std::time_t t = static_cast<std::time_t>(created);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(created_at, sizeof created_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json{{"id", options.model_name}, {"object", "model"}, {"created", created}, {"owned_by", "dsinfer"},
                {"type", "model"}, {"display_name", options.model_name}, {"created_at", created_at},
                {"max_model_len", scheduler.options().max_context}};
  };
  auto models = [this, model_json](const httplib::Request&, httplib::Response& res) {
    res.set_content(dump_json(json{{"object", "list"}, {"data", json::array({model_json()})}, {"has_more", false},
                                   {"first_id", options.model_name}, {"last_id", options.model_name}}),
                    "application/json");
  };
  http.Get("/v1/models", models);
  http.Get("/models", models);
  http.Get(R"(/v1/models/([^/]+))", [this, model_json](const httplib::Request& req, httplib::Response& res) {
    if (req.matches[1] != options.model_name) {
      write_error(res, ApiError(404, cat("The model '", std::string(req.matches[1]), "' does not exist"), "model",
                                "model_not_found"));
      return;
    }
    res.set_content(dump_json(model_json()), "application/json");
  });
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (shutting_down) {
      res.status = 503;
      res.set_content(R"({"status":"shutting down"})", "application/json");
    } else {
      res.set_content(R"({"status":"ok"})", "application/json");
    }
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(scheduler.metrics()), "text/plain; version=0.0.4");
  });
  // llama-server's token endpoints, for clients that count tokens (context budgets) with the model's own
  // tokenizer: {"tokens": [id | {id, piece}]} and {"content"}.
  auto json_reply = [this](const httplib::Request& req, httplib::Response& res, auto make) {
    res.set_content(dump_json(make(parse_json_body(req.body, options.limits))), "application/json");
  };
  http.Post("/tokenize", guarded([this, json_reply](const httplib::Request& req, httplib::Response& res) {
    json_reply(req, res, [this](const json& body) {
      const TokenizeRequest r = parse_tokenize_request(body);
      EncodeOptions eo;
      eo.add_bos = r.add_special;
      json tokens = json::array();
      for (int32_t id : tokenizer.encode(r.content, eo)) {
        if (r.with_pieces) {
          tokens.push_back({{"id", id}, {"piece", utf8_sanitize(tokenizer.token_bytes(id))}});
        } else {
          tokens.push_back(id);
        }
      }
      return json{{"tokens", std::move(tokens)}};
    });
  }));
  http.Post("/detokenize", guarded([this, json_reply](const httplib::Request& req, httplib::Response& res) {
    json_reply(req, res, [this](const json& body) {
      return json{{"content", utf8_sanitize(tokenizer.decode(parse_detokenize_request(body, tokenizer.n_vocab())))}};
    });
  }));
}

}  // namespace dsinfer::server
