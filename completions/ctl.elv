
use builtin;
use str;

set edit:completion:arg-completer[ctl] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'ctl'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'ctl'= {
            cand --server 'Platform server base URL [default: http://localhost:8081]'
            cand --api-key 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)'
            cand -o 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --output 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --color 'When to use colour'
            cand --icons 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)'
            cand --timestamps 'Timestamp column of event lines'
            cand --context 'Named context from the config file: its server and API key (overrides current-context)'
            cand --config 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]'
            cand --certificate-authority 'PEM file of the certificate authorities to trust for an https server, instead of the system''s'
            cand -v 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand --verbose 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand -q 'Print only the essential output (event lines or JSON); no banners or notes'
            cand --quiet 'Print only the essential output (event lines or JSON); no banners or notes'
            cand --insecure-skip-tls-verify 'Do not check the https server''s certificate (insecure: for test servers only; warns on every run)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand deploy 'Submit a Score spec to the platform server, and optionally watch it deploy'
            cand watch 'Follow an application''s events, or one deployment to its end'
            cand status 'Show an application: its latest deployment and its resources'
            cand list 'List applications (-o wide for more columns, -o json for scripts)'
            cand delete 'Delete an application and its resources, optionally watching the teardown'
            cand validate 'Check Score spec files locally, without a server (exit 0 if valid, 2 if not)'
            cand completion 'Print a shell completion script to stdout'
            cand man 'Print the man page (roff) to stdout'
            cand server 'Run the bundled reference platform server'
            cand config 'Show the config file''s contexts, or switch the current one'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'ctl;deploy'= {
            cand --timeout 'Stop watching after this long, e.g. 90s, 10m, 1h30m (exit code 3)'
            cand --idle-timeout 'Declare the event stream dead after this long without a byte (keep-alives count), and reconnect; keep it above the server''s keep-alive interval (15s on ctl server, 30s on innominatus)'
            cand --retry-budget 'Keep reconnecting a lost event stream for this long before giving up (exit code 5); a stream back within it resumes where it left off'
            cand --max-event-size 'Skip (with a note on stderr) any event larger than this, e.g. 1MiB, 256KiB, 4MiB (a bare number means bytes; at least 1KiB)'
            cand --providers 'Provider catalogue (YAML) for the --local server'
            cand --server 'Platform server base URL [default: http://localhost:8081]'
            cand --api-key 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)'
            cand -o 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --output 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --color 'When to use colour'
            cand --icons 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)'
            cand --timestamps 'Timestamp column of event lines'
            cand --context 'Named context from the config file: its server and API key (overrides current-context)'
            cand --config 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]'
            cand --certificate-authority 'PEM file of the certificate authorities to trust for an https server, instead of the system''s'
            cand -w 'Watch the deployment and exit with its outcome'
            cand --watch 'Watch the deployment and exit with its outcome'
            cand --all 'Also show internal events (stream bookkeeping, unknown event types)'
            cand --local 'Run against a throwaway in-process server (in-memory store); implies --watch'
            cand -q 'Print only the essential output (event lines or JSON); no banners or notes'
            cand --quiet 'Print only the essential output (event lines or JSON); no banners or notes'
            cand --insecure-skip-tls-verify 'Do not check the https server''s certificate (insecure: for test servers only; warns on every run)'
            cand -v 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand --verbose 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'ctl;watch'= {
            cand --deployment 'Follow this deployment to its end and exit with its outcome'
            cand --since 'Start after this event id, replaying what came after it (on servers that keep events): an integer (ctl server; innominatus'' nanosecond ids) or nchan''s TIME:TAG'
            cand --timeout 'Stop watching after this long, e.g. 90s, 10m (exit code 3); no limit by default'
            cand --idle-timeout 'Declare the event stream dead after this long without a byte (keep-alives count), and reconnect; keep it above the server''s keep-alive interval (15s on ctl server, 30s on innominatus)'
            cand --retry-budget 'Keep reconnecting a lost event stream for this long before giving up (exit code 5); a stream back within it resumes where it left off'
            cand --max-event-size 'Skip (with a note on stderr) any event larger than this, e.g. 1MiB, 256KiB, 4MiB (a bare number means bytes; at least 1KiB)'
            cand --server 'Platform server base URL [default: http://localhost:8081]'
            cand --api-key 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)'
            cand -o 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --output 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --color 'When to use colour'
            cand --icons 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)'
            cand --timestamps 'Timestamp column of event lines'
            cand --context 'Named context from the config file: its server and API key (overrides current-context)'
            cand --config 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]'
            cand --certificate-authority 'PEM file of the certificate authorities to trust for an https server, instead of the system''s'
            cand --follow 'Show the app''s events as they come, later deployments included, until Ctrl-C (exit 0) or --timeout, instead of following one deployment to its end'
            cand --all 'Also show internal events (stream bookkeeping, unknown event types)'
            cand -q 'Print only the essential output (event lines or JSON); no banners or notes'
            cand --quiet 'Print only the essential output (event lines or JSON); no banners or notes'
            cand --insecure-skip-tls-verify 'Do not check the https server''s certificate (insecure: for test servers only; warns on every run)'
            cand -v 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand --verbose 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'ctl;status'= {
            cand --server 'Platform server base URL [default: http://localhost:8081]'
            cand --api-key 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)'
            cand -o 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --output 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --color 'When to use colour'
            cand --icons 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)'
            cand --timestamps 'Timestamp column of event lines'
            cand --context 'Named context from the config file: its server and API key (overrides current-context)'
            cand --config 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]'
            cand --certificate-authority 'PEM file of the certificate authorities to trust for an https server, instead of the system''s'
            cand -q 'Print only the essential output (event lines or JSON); no banners or notes'
            cand --quiet 'Print only the essential output (event lines or JSON); no banners or notes'
            cand --insecure-skip-tls-verify 'Do not check the https server''s certificate (insecure: for test servers only; warns on every run)'
            cand -v 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand --verbose 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'ctl;list'= {
            cand --server 'Platform server base URL [default: http://localhost:8081]'
            cand --api-key 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)'
            cand -o 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --output 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --color 'When to use colour'
            cand --icons 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)'
            cand --timestamps 'Timestamp column of event lines'
            cand --context 'Named context from the config file: its server and API key (overrides current-context)'
            cand --config 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]'
            cand --certificate-authority 'PEM file of the certificate authorities to trust for an https server, instead of the system''s'
            cand -q 'Print only the essential output (event lines or JSON); no banners or notes'
            cand --quiet 'Print only the essential output (event lines or JSON); no banners or notes'
            cand --insecure-skip-tls-verify 'Do not check the https server''s certificate (insecure: for test servers only; warns on every run)'
            cand -v 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand --verbose 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'ctl;delete'= {
            cand --timeout 'With --watch: stop waiting after this long (exit code 3)'
            cand --server 'Platform server base URL [default: http://localhost:8081]'
            cand --api-key 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)'
            cand -o 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --output 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --color 'When to use colour'
            cand --icons 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)'
            cand --timestamps 'Timestamp column of event lines'
            cand --context 'Named context from the config file: its server and API key (overrides current-context)'
            cand --config 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]'
            cand --certificate-authority 'PEM file of the certificate authorities to trust for an https server, instead of the system''s'
            cand -w 'Watch the teardown: wait for the server''s `application.deleted` event'
            cand --watch 'Watch the teardown: wait for the server''s `application.deleted` event'
            cand -q 'Print only the essential output (event lines or JSON); no banners or notes'
            cand --quiet 'Print only the essential output (event lines or JSON); no banners or notes'
            cand --insecure-skip-tls-verify 'Do not check the https server''s certificate (insecure: for test servers only; warns on every run)'
            cand -v 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand --verbose 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'ctl;validate'= {
            cand -o 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --output 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --color 'When to use colour'
            cand --icons 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)'
            cand --timestamps 'Timestamp column of event lines'
            cand -q 'Print only the essential output (event lines or JSON); no banners or notes'
            cand --quiet 'Print only the essential output (event lines or JSON); no banners or notes'
            cand -v 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand --verbose 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'ctl;completion'= {
            cand -v 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand --verbose 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'ctl;man'= {
            cand -v 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand --verbose 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'ctl;server'= {
            cand --listen 'Address to listen on (HOST:PORT). Port 0 picks a free port; the address actually bound is printed to stderr as `listening on http://ADDR` (`https://` with --tls-cert)'
            cand --data-dir 'Directory of the server''s database [default: the per-user data directory, e.g. ~/.local/share/ctl]'
            cand --providers 'Provider catalogue (YAML) to use instead of the built-in one'
            cand --key 'API key for team `default` (repeatable). Without any key the server accepts every same-origin request and listens on loopback addresses only. (`--api-key` is the client''s option.)'
            cand --api-keys-file 'YAML file of API keys and their teams: `keys: [{key: KEY, team: TEAM}, ...]`. A team sees and deploys only its own applications'
            cand --keepalive 'Interval of keep-alive comments on event streams (e.g. 15s, 500ms)'
            cand --retention 'Keep at most N events, deleting the oldest. A stream resuming from before the oldest kept event gets one `stream.gap` event'
            cand --tls-cert 'Serve HTTPS with this PEM certificate chain (the server''s certificate first); needs --tls-key'
            cand --tls-key 'The PEM private key of --tls-cert'
            cand --header-timeout 'A connection must send a whole request head within this time of connecting (after the TLS handshake), and a kept-alive one within this time of its previous response; otherwise it is closed'
            cand --body-timeout 'A request body must arrive whole within this time of its head; a slower one is answered 408 and its connection closed'
            cand --max-connections 'At most N open connections that are not event streams; more are answered 503 and closed at once. Lowered, with a warning, to fit the open-file limit'
            cand --max-streams 'At most N event streams at once; more are answered 503. Lowered, with a warning, to fit the open-file limit'
            cand --in-memory 'Keep everything in memory; nothing survives a restart'
            cand -v 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand --verbose 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'ctl;config'= {
            cand --server 'Platform server base URL [default: http://localhost:8081]'
            cand --api-key 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)'
            cand -o 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --output 'Output format: human-readable text, or one JSON object per line on stdout'
            cand --color 'When to use colour'
            cand --icons 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)'
            cand --timestamps 'Timestamp column of event lines'
            cand --context 'Named context from the config file: its server and API key (overrides current-context)'
            cand --config 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]'
            cand --certificate-authority 'PEM file of the certificate authorities to trust for an https server, instead of the system''s'
            cand -q 'Print only the essential output (event lines or JSON); no banners or notes'
            cand --quiet 'Print only the essential output (event lines or JSON); no banners or notes'
            cand --insecure-skip-tls-verify 'Do not check the https server''s certificate (insecure: for test servers only; warns on every run)'
            cand -v 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand --verbose 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand current-context 'Print the config file''s current-context'
            cand get-contexts 'List the config file''s contexts (-o json for scripts)'
            cand use-context 'Set the config file''s current-context, keeping the rest of the file as written'
            cand view 'Print the config file, with every literal api-key redacted'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'ctl;config;current-context'= {
            cand -v 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand --verbose 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'ctl;config;get-contexts'= {
            cand -v 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand --verbose 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'ctl;config;use-context'= {
            cand -v 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand --verbose 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'ctl;config;view'= {
            cand -v 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand --verbose 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'ctl;config;help'= {
            cand current-context 'Print the config file''s current-context'
            cand get-contexts 'List the config file''s contexts (-o json for scripts)'
            cand use-context 'Set the config file''s current-context, keeping the rest of the file as written'
            cand view 'Print the config file, with every literal api-key redacted'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'ctl;config;help;current-context'= {
        }
        &'ctl;config;help;get-contexts'= {
        }
        &'ctl;config;help;use-context'= {
        }
        &'ctl;config;help;view'= {
        }
        &'ctl;config;help;help'= {
        }
        &'ctl;help'= {
            cand deploy 'Submit a Score spec to the platform server, and optionally watch it deploy'
            cand watch 'Follow an application''s events, or one deployment to its end'
            cand status 'Show an application: its latest deployment and its resources'
            cand list 'List applications (-o wide for more columns, -o json for scripts)'
            cand delete 'Delete an application and its resources, optionally watching the teardown'
            cand validate 'Check Score spec files locally, without a server (exit 0 if valid, 2 if not)'
            cand completion 'Print a shell completion script to stdout'
            cand man 'Print the man page (roff) to stdout'
            cand server 'Run the bundled reference platform server'
            cand config 'Show the config file''s contexts, or switch the current one'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'ctl;help;deploy'= {
        }
        &'ctl;help;watch'= {
        }
        &'ctl;help;status'= {
        }
        &'ctl;help;list'= {
        }
        &'ctl;help;delete'= {
        }
        &'ctl;help;validate'= {
        }
        &'ctl;help;completion'= {
        }
        &'ctl;help;man'= {
        }
        &'ctl;help;server'= {
        }
        &'ctl;help;config'= {
            cand current-context 'Print the config file''s current-context'
            cand get-contexts 'List the config file''s contexts (-o json for scripts)'
            cand use-context 'Set the config file''s current-context, keeping the rest of the file as written'
            cand view 'Print the config file, with every literal api-key redacted'
        }
        &'ctl;help;config;current-context'= {
        }
        &'ctl;help;config;get-contexts'= {
        }
        &'ctl;help;config;use-context'= {
        }
        &'ctl;help;config;view'= {
        }
        &'ctl;help;help'= {
        }
    ]
    $completions[$command]
}
