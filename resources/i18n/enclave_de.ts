<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="de" sourcelanguage="en">
  <context>
    <name>__init__</name>
    <message>
      <source>Documents</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>api_badge</name>
    <message numerus="yes">
      <source>%n answering</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message numerus="yes">
      <source>%n waiting</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>API: {activity}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Other programs are using the model through Enclave's API.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>api_settings</name>
    <message>
      <source>A new key. Your computer's password store could not keep it, so it works until Enclave closes.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>A new key: copy it now into the programs that will use Enclave.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>API key:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Address copied.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Address other programs use</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Allow other computers on the network</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Base URL:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Copy</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Could not save the settings: {error}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Key copied.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Key other programs use</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Let other programs on this computer use the model (OpenAI-compatible API)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Make a new key; programs using the old one must get the new one.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>New key</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Other computers on your network can then use the model if they have the key, and what they send travels unencrypted. Turn this on only on a network you trust.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Other programs</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Port:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Programs send this key with each request. Copy copies it.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Programs written for OpenAI (editors, scripts, chat apps) can then ask the model that is loaded here. Your own questions in this window always go first.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation allows the API on this computer only, not on the network.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>cancel</name>
    <message>
      <source>Cancelled.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>catalog</name>
    <message>
      <source>The starter list names {wanted}, which {repo} does not have, and none of its other files fits this computer. Choose another starter model.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The starter list names {wanted}, which {repo} does not have; downloading {chosen} instead (the same {quant} quantization).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The starter list names {wanted}, which {repo} does not have; downloading {chosen} instead ({quant}, the best fit for this computer).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The starter list names {wanted}, which {repo} does not have; downloading {chosen} instead ({quant}, the nearest quantization to {near}).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The starter model list could not be read ({path}).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The starter model list is empty.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>catalog_json</name>
    <message>
      <source>A solid all-rounder for chat and questions about your documents.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>A strong general assistant: writing, analysis, many languages.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Clear writing and summaries of long documents (128k context), 140 languages.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Google's largest open Gemma: top quality on a 24 GB graphics card.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>High-quality writing and long documents when you have a graphics card.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Light everyday help and short summaries on older laptops.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Near top-tier quality for demanding work, on a 16-24 GB graphics card.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Noticeably smarter answers on a computer with a 12 GB+ graphics card.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Popular, well-rounded assistant for work questions and drafting.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Programming: writing, explaining and fixing code.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Reasoning, maths and step-by-step explanations in a small package.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Small and friendly: short emails, rewording, quick questions, many languages.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Small but capable, many languages; reasons step by step when asked a hard question.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Strong for its size: analysis, writing and careful step-by-step answers.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Tiny and fast: quick answers and trying Enclave on any computer. It may think aloud before answering.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>chat_context</name>
    <message>
      <source>No matching passages were found in the selected documents.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No more passages fit this model's context ({tokens} tokens); a longer context in the model's settings makes room for more.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The embedding model could not be used: keyword search (BM25) only.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>chat_presenter</name>
    <message>
      <source>Ask a question below to start.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Choose a server model in Settings</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Last engine log lines:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Load a model first</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Reload model</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>To chat, Enclave needs a model: the program that writes the answers. It can choose one that suits this computer and download it for you — one click below.
Already have a model file (.gguf)? Click “Open model…” above, or drop it on this window.
Your conversations stay on this computer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>What had arrived is kept, marked as interrupted.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your edited question is a new version. The earlier question and its answers are kept: use ‹ › beside the question to switch between them.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>chat_settings_presenter</name>
    <message>
      <source>(You asked for {asked}: this model and computer allow {allowed}.)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Loaded with a context of {tokens} tokens; chat format: {format}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Not loaded. “Apply &amp; reload” loads {file} with these settings.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Open a model first: click “Open model…”.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Open a model to choose its context size and chat format.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Wait for the answer to finish (or press Stop), then reload.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your new choice takes effect after “Apply &amp; reload”.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the model's own</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>chat_view</name>
    <message>
      <source>Ask anything — Enter to send, Shift+Enter for a new line</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Earlier messages are beyond the model's memory</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Get the recommended model for this computer</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Send</source>
      <translation type="unfinished" />
    </message>
    <message numerus="yes">
      <source>Show %n earlier messages ({hidden} not shown)</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>Stop</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Type a question for the model; Enter sends it, Shift+Enter starts a new line.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your question</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>citations</name>
    <message numerus="yes">
      <source>%n documents</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>Answer the same question again, reading about twice as many passages from your documents. The answer you have now is kept as an earlier version.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>From &lt;b&gt;{file}&lt;/b&gt;</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No program on this computer could open {file}. The passage the answer used is shown here.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Open file</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Open {path}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Read all of {file} and summarise it</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Show passage</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Show passages</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Summarise</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Use more passages</source>
      <translation type="unfinished" />
    </message>
    <message numerus="yes">
      <source>Used %n passages from {documents}</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>{file} is no longer at {path} (moved or deleted?).</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>client</name>
    <message>
      <source>No model is loaded.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>collection_picker</name>
    <message>
      <source>Answer from your documents: choose the collections to use</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Answering from: {collections}. {choose}.</source>
      <translation type="unfinished" />
    </message>
    <message numerus="yes">
      <source>Documents: %n collections</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>Documents: off</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Documents: {collection}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Manage documents…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No collections yet</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>context_meter</name>
    <message numerus="yes">
      <source>%n oldest message left out — beyond the model's memory</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message numerus="yes">
      <source>%n oldest messages left out — beyond the model's memory</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>How much of the model's memory (its context) this conversation fills. When it is full, the oldest messages are left out of what the model sees.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Model memory: less than 1% full</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Model memory: {percent}% full</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The conversation is longer than the model's context. The assistant still answers, but no longer sees the oldest messages. A larger context size (Chat settings › Advanced) lets it remember more.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>about {used} of {total} tokens (a token is about ¾ of a word).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{used} of {total} tokens (a token is about ¾ of a word).</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>conversation_list</name>
    <message>
      <source>+  New chat</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Could not save {file}: {reason}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Delete</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Deleted “{title}”</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Enclave conversation (*.json)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Enclave conversation (*.json);;All files (*)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Export as JSON</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Export as JSON…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Export as Markdown</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Export as Markdown…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Import a conversation</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Import a conversation saved as JSON by Enclave</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Imported “{title}”</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Import…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Markdown (*.md)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>New chat</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No conversations match “{query}”</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No conversations yet — ask a question to start one</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Rename</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Saved {path}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Saved “{file}”</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Search conversations</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Search conversations  (Ctrl+K)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Start a new conversation (Ctrl+N)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Undo</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation has turned off chat history: conversations are not saved and are gone when Enclave closes.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>conversation_settings</name>
    <message>
      <source>Above 1 discourages repeating the same words.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Advanced</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Apply &amp;&amp; reload</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Automatic (from the model)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Changed from “{preset}”. &lt;a href='reset'&gt;Reset&lt;/a&gt; or save it as your own preset.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Chat format</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Chat settings</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Close the chat settings</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Context size</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Creativity (temperature)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Custom</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Default: {context}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Delete preset</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Delete this preset of yours (this chat keeps its settings)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>For example: You are a patient teacher. Answer in French.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>For the new chat: used from its first message.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>For this conversation only. Changes apply to the next answer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Higher: more varied and creative. Lower: steadier and more predictable.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>How it writes</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>How much of the conversation the model can keep in mind. Bigger needs more memory; Enclave lowers it if it does not fit this computer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>How the conversation is written for the model. Automatic uses the template inside the model file; choose another only if answers look garbled. Saved for this model.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Instructions for the assistant</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Instructions for this chat</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Keep these instructions and settings for other chats</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Load the model again with these settings (takes a few seconds)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Longest answer (tokens)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Min-p</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Min-p: leave out words far less likely than the best one.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Model memory and format</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Name for this preset:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Not saved: {reason}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Preset</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Random</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Ready-made instructions and settings for common jobs</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Repetition penalty</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Reset to the preset</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Save as preset</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Save as preset…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Saved as “{preset}”. It is in the list for every chat.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Seed</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The assistant reads these before every answer in this chat (the “system prompt”).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The longest answer, in tokens (a token is about ¾ word).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The same seed, question and settings give the same answer. Empty: random.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>These apply when the model is loaded again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Top-k</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Top-k: choose among this many most likely words (0: no limit).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Top-p</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Top-p: only the most likely words that add up to this share.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your own instructions and settings.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your own preset</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your own preset.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{preset}  (yours)</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>crash_cause</name>
    <message>
      <source>Last engine log line: {line}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The model engine stopped while loading {model}: {cause}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The model engine stopped while running {model}: {cause}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The model engine stopped: {cause}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The model file may be damaged or made for a newer engine.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your conversation is safe; you can reload the model.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>a memory access error in the engine's native code</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>a signal from the system</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>an arithmetic error (such as a division by zero) in the engine's native code</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>an instruction this processor does not have</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>it ended with {signal}: {meaning}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>it exited with code {code}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>it ran out of memory</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>it stopped answering</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>it was asked to stop by another program</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>it was killed from outside, by the system (often because the computer ran out of memory) or by another program</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>it was stopped on request</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>llama.cpp stopped on one of its internal checks</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the engine's native code gave up (abort)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the model file could not be read any more (it changed, shrank or its disk went away)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the model's architecture ('{architecture}') is not supported by this engine</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the model's architecture is not supported by this engine</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>diagnose</name>
    <message>
      <source>it has been revoked</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>it has expired</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>it is not valid yet (is this computer's clock right?)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>it was issued by an authority this computer does not trust</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>it was made out for another address</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>set for this computer</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>this computer does not accept it</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>discover</name>
    <message numerus="yes">
      <source>%n models shown · scroll down for more</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message numerus="yes">
      <source>%n models · that is all</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>Accept license first</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Access</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Author</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Checking this computer…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Checking this computer… the download starts next.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Checking…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Discover models</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Download</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Download {file} ({size})</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Downloads</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Enclave could not examine this computer; the smallest model is a safe start.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Get the recommended model for this computer</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Getting {model} ({size}); see Downloads below. It appears in your Library when it is done.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Good for</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>License</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Likes</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Loading more…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Model</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Most downloaded</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Most liked</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>New here? Start with the model that suits this computer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No models found.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No models match “{query}”. Try a shorter or different word.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Offline mode is on (see Settings)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Offline mode is on: Enclave does not connect to the internet, so searching and downloading are off. The starter list below still shows what would suit this computer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>On this computer</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Open</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Open Settings</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Recently updated</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Recommended here: &lt;b&gt;{model}&lt;/b&gt; · {size} · {verdict} · {speed}. {good_for}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Recommended here: &lt;b&gt;{model}&lt;/b&gt; · {size} · {verdict}. {good_for}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Recommended models</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Search</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Search for a model above, or pick one of the starter models.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Search models on Hugging Face</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Search results</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Search the models on Hugging Face, e.g. llama, qwen, mistral…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Searching Hugging Face…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Size</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Starter model</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The search failed: {error}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This computer's speed is not known.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Too large for this computer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Trending</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Try again</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Unknown</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Updated</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>You must accept this model's license on Hugging Face first</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation allows none of the starter models.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{model} could not be downloaded: {error}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{model} — click to see its files</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{model} — click to see its files and description</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>documents</name>
    <message>
      <source>Could not save the settings: {error}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Documents</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No collection yet.

Click “New collection…”, or drop a folder here.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Put your files in a collection, then pick it in a conversation: the answers quote your documents and show where each fact comes from. Everything stays on this computer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your collections are being updated for the new embedding model.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>documents_actions</name>
    <message>
      <source>Add a folder</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Add files</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Delete collection</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Delete the collection “{collection}”?

Your files stay where they are; only Enclave's index of them is removed.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Documents</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Documents (*.pdf *.docx *.txt *.md *.markdown *.html *.htm *.csv);;All files (*)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Name of the collection:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>New collection</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>New name:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Please wait until indexing ends (or cancel it) to rename.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Rename collection</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>documents_collections_pane</name>
    <message>
      <source>Collections</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Document collections</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>New collection…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{collection}  ·  updating…</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>documents_details</name>
    <message numerus="yes">
      <source>%n could not be read</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message numerus="yes">
      <source>%n documents indexed</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message numerus="yes">
      <source>%n passages</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>Add files…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Add folder…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Cancel</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Delete…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Empty: add files or folders to this collection.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Indexing was stopped before the end</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Preparing search: {done} of {total} passages</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Read again the files that changed since the last time</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Reading files: {done} of {total}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Remove from collection</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Rename…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Resume indexing</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Tip: drag files or folders from your file manager onto this page.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Update now</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>about {hours} h left</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>about {minutes} min left</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>about {seconds} s left</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>documents_embedding_bar</name>
    <message>
      <source>Choose an embedding model</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Choose model…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>GGUF models (*.gguf)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No embedding model at {path}: keyword search (BM25) only.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Search by meaning is off: its model file is missing ({file}). Search finds exact words only (keyword search).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Search by meaning uses the built-in model {model} (an embedding model), and keywords: {path}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Search by meaning uses your model {model} (an embedding model), and keywords: {path}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Search finds what you ask about by its meaning, not only by the exact words.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Use built-in</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>documents_files</name>
    <message numerus="yes">
      <source>%n could not be read</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message numerus="yes">
      <source>%n indexed</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message numerus="yes">
      <source>%n pages</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message numerus="yes">
      <source>%n partly indexed</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message numerus="yes">
      <source>%n passages</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message numerus="yes">
      <source>%n skipped</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>Could not read</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Details</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Folder</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Indexed</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Name</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Not found (moved, deleted or unplugged?)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Not indexed yet</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Partly indexed</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Skipped</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Status</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>documents_indexing</name>
    <message>
      <source>the embedding model is missing ({file})</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the engine is not available</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{file} could not be loaded</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>documents_indexing_feedback</name>
    <message>
      <source>Indexing failed: {reason}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Indexing stopped. What was read so far is kept and already searchable; click “Resume indexing” to go on.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>downloads_panel</name>
    <message>
      <source>Cancel</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Cancelled</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Checking the file…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Connection problem; trying again</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Downloaded — it is in your Library</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Downloading…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Downloads</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Open Library</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Pause</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Paused</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Quality: {quality}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Remove from list</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Resume</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Starting…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The download failed.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Try again</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Waiting to start</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Waiting. {reason}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Waiting: offline mode is on (turn it off in Settings to download)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{done} of {total}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{file}
from {publisher}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{size}/s</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>errors</name>
    <message>
      <source>Could not reach Hugging Face. Check your internet connection and try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Could not reach Hugging Face. Check your internet connection and try again. ({detail})</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Download cancelled.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Download paused.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Download waiting: Enclave is offline.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Enclave cannot reach Hugging Face. Check your internet connection, or turn on offline mode in Settings to work with the models already on this computer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Enclave connected through the proxy {proxy}, but could not trust the security certificate it was shown for {host}: {why}. Your company's proxy probably inspects secure connections; ask your IT department to add the company certificate to this computer's certificate store, then try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Enclave could not connect to the proxy {proxy} that this computer is set to use. Check the proxy settings, or ask your IT department, then try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Enclave could not trust the security certificate of {host}: {why}. If your company inspects secure connections, ask your IT department to add the company certificate to this computer's certificate store, then try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Not enough disk space: this model needs {needed} but only {free} is free in {folder}. Free some space or choose another models folder in Settings.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Offline mode is on for this computer (HF_HUB_OFFLINE is set), so Enclave does not connect to the internet. The models already on this computer work as usual.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Offline mode is on, so Enclave does not connect to the internet. Turn it off in Settings to search or download models.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Refused to save {name}: that name would put the file outside the models folder.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The disk is full: the model could not be written to {folder}. What was downloaded so far is kept; free some space, then resume the download.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The downloaded file {file} is damaged: its checksum does not match the one Hugging Face published. It was deleted and not added to your models; please download it again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The proxy {proxy} asks for a user name and password that Enclave does not have. Ask your IT department, or put them into the proxy address (HTTPS_PROXY=http://name:password@host:port), then try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The proxy {proxy} refused the connection to {host} (it answered {status}). Ask your IT department whether Hugging Face may be reached through it.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation has set Enclave to work offline, so it does not connect to the internet. The models already on this computer work as usual.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation has switched model downloads off in Enclave. Ask your IT department for the model you need.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>export</name>
    <message>
      <source>## System prompt</source>
      <translation type="unfinished" />
    </message>
    <message numerus="yes">
      <source>%n tokens</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>*(empty)*</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>- Model: {file}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>- Started: {when}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Assistant</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Conversation</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Could not read {file}: {reason}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Imported chat</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Message {number} has an unknown status {status}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Message {number} has no text content.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Message {number} has no “id” of its own.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Message {number} has the role {role}; expected user, assistant or system.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Message {number} is not an object with a role and content.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Message {number}: its “parent” is not a message before it.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Message {number}: “created_at” should be a number of seconds.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Message {number}: “stats” should be an object.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>New chat</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>System</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The file has no list of messages.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The file has too many messages ({count}).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The file: “current” is not one of its messages.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The file: “settings” should be an object.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The file: “{key}” should be text.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>There is no conversation {number}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This conversation file has no version number.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This conversation was saved by a newer Enclave (format version {version}); update Enclave to open it.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This file is not an Enclave conversation (expected a JSON object).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This file is not an Enclave conversation (its “format” is missing or different).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Unknown conversation format version {version}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>You</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>failed</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>first token {milliseconds} ms</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>interrupted</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>still being written</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>stopped by the user</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{file} is not a JSON file.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{rate} tokens/s</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>extract</name>
    <message numerus="yes">
      <source>%n scanned pages read with OCR (text recognition can misread words)</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>1 scanned page read with OCR (text recognition can misread words)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>OpenDocument presentation</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>OpenDocument spreadsheet</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>OpenDocument text</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Outlook message</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>cannot read the file ({reason})</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>e-mail</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>it could not be opened</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>no extension</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>no readable text found, not even in the scanned pages</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>no text found</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>no text found (a scanned PDF: turn on reading scanned pages in Settings)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>only the first {count} characters are searchable (the file is longer)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>only the first {shown} of {total} chapters are searchable</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>only the first {shown} of {total} pages are searchable</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>only the first {shown} of {total} slides are searchable</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>picture</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>reading scanned page {page} of {pages} with OCR</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>reading stopped after {seconds} seconds; only the part read by then is searchable</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>text</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the PDF is password-protected</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the PDF uses an unsupported protection</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the file is empty</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the {format} file is nested too deeply to read</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the {format} file looks damaged</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the {format} file needs too much memory to read</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>too large ({size} MB; the limit is {limit} MB)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>unsupported format</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>unsupported format ({extension})</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>fit</name>
    <message>
      <source>Enclave could not tell whether this model fits this computer.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>gguf_facts</name>
    <message>
      <source>Enclave is not allowed to read {file}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The file {file} could not be read ({reason}).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The file {file} does not exist.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This GGUF file does not say which model architecture it holds.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This GGUF file uses format version {version}, which Enclave cannot read (it may be damaged, or made for a much newer or older program).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This file is empty; it is not a GGUF model.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This file is not a GGUF model.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model file asks for a way of pooling embeddings (number {pooling}) that the engine does not know; it is damaged or made for a newer engine.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model file is damaged or empty: it holds no weights.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model file is damaged: it does not say how many layers the model has.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model file is damaged: it says the model has {layers} layers.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model file is damaged: it says the model reads {tokens} tokens at once.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model file is damaged: its description holds values that make no sense.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model file is damaged: its header announces more entries than the file can hold.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model file is damaged: its list of tensors points far past the end of the file.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model file is damaged: its {what} is negative.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model file is damaged: one of its normalisation settings is not a valid number.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model file is incomplete (truncated) or damaged: its header could not be read.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model file is incomplete (truncated): it has {have} of the {need} it needs. Download it again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model file is incomplete (truncated): it stops in its first bytes.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model file is incomplete (truncated): it stops inside its header. Download it again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>context length</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>embedding size</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>feed-forward size</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>input/output error</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>key length</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>number of attention heads</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>number of key/value heads</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>sliding window</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>value length</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>vocabulary size</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{count} bytes</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{file} is a folder, not a model file.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{size} GB</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{size} KB</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{size} MB</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>guards</name>
    <message>
      <source>the document is password-protected</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the {format} file holds {parts} parts (the limit is {limit}); it may be built to overload the computer</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the {format} file would unpack to {unpacked} from {packed} (a 'zip bomb'); not opened</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the {format} file would unpack to {unpacked}; the limit is {limit}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{size} GB</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{size} KB</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{size} MB</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>hardware</name>
    <message>
      <source>Could not read the NVIDIA GPU ({reason}); models will run on the CPU.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>GPU {number} could not be read ({reason}) and is left out.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No NVIDIA GPU driver found; the model will run on the CPU.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The NVIDIA GPU library (nvidia-ml-py) is not installed; using the CPU.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The NVIDIA driver reports no GPU; the model will run on the CPU.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>hub</name>
    <message>
      <source>Something went wrong talking to Hugging Face: {problem}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>That file in {model} was not found on Hugging Face. Check the name and try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>That version of {model} was not found on Hugging Face. Check the name and try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>That was not found on Hugging Face. Check the name and try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The file {file} in {model} was not found on Hugging Face. Check the name and try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The model was not found on Hugging Face. Check the name and try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The model {model} was not found on Hugging Face. Check the name and try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model needs a Hugging Face account. Open {address} and accept its license, then add your Hugging Face token in Settings and try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model needs your approval first. Open {address} , accept its license with your Hugging Face account, then try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the hub answered {status}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{name} is not a valid model or file name.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{what} was not found on Hugging Face. Check the name and try again.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>index</name>
    <message>
      <source>a collection named {collection} already exists</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>a collection needs a name</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>there is no collection named {collection}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{file} was written by a newer Enclave (schema {version})</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>indexer</name>
    <message>
      <source>Embedding failed; some chunks are searchable by keywords only.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Embedding failed; these files are searchable by keywords only.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No embedding model ({reason}): chunks are indexed for keyword search only; vectors are added on a later run with a model.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The disk is full: the index of “{collection}” could not be saved. What was indexed so far is kept and can be searched; free some space, then index again to continue.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>a link to a folder is not followed (add that folder itself to index it)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>cannot read ({reason})</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>none given</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>not a regular file (a pipe, socket or device)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>not found (moved, deleted or unplugged?)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the link points to a file that is not there</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the link points to itself (a link loop)</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>language</name>
    <message>
      <source>Same as this computer ({language})</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>language_setting</name>
    <message>
      <source>Could not save the settings: {error}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Language</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Language of the window</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Restart now</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>library</name>
    <message numerus="yes">
      <source>%n models on this computer ({size}); {downloaded} downloaded with Enclave. Double-click one to chat with it.</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>Add a folder of models</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Add a folder…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Add a model file</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Add a model file…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Also list every model in a folder of yours</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Chat with this model</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Could not delete {file}: {reason}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Delete this model's file from your computer</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Delete this model?</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Delete {model} ({size}) from this computer?

You can download it again later from Discover.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Delete…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Enclave could not list your models: {error}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>From</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Go to Discover</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Hugging Face cache</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Keep a model file you already have in this list (it stays where it is)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Last used</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Looking for models…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Missing: no longer at this place</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Model</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Model files (*.gguf);;All files (*)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Models in {folder} are listed here from now on.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Models on this computer</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Models on this computer: Enclave's own and other apps'.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Models you download, open or add appear here.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No models yet — get one in Discover, or add a model file you already have.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Not allowed by your organisation</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>On this computer</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Organisation</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Quality: {quality}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Refresh</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Refused to delete {file}: it is outside Enclave's models folder.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Remove from list</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Show in folder</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Size</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Take this model off the list; its file is not touched</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This file belongs to {app}; Enclave uses it where it is and never deletes it.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model belongs to {source}; Enclave only uses it and will not delete it. Remove it from {source} instead.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model is open in the chat. Unload it first (Chat page), then delete it.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your file</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your folder</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your models</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation shares this model; Enclave uses it where it is and never deletes it.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>from {publisher}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>never</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{file} is in your Library.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{file} is not a model file Enclave can use (it must be a GGUF file, the kind of file Discover downloads).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{file} is not there any more.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{file} is off the list (the file was not touched).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{missing} no longer found.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{model} was deleted.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{path} is no longer there (moved or deleted?). Remove it from the list, or put it back.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>link_confirm</name>
    <message>
      <source>Cancel</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Open a link from the answer?</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Open in browser</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The answer links to this address. Open it in your web browser?</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>loader</name>
    <message>
      <source>The model {model} is an embedding model: it turns text into numbers for document search and cannot write answers. Choose a chat model.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your GPU ran out of memory with {tried} layers, so Enclave loaded the model with {loaded} layers on the GPU instead. It works, a little slower.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>mail</name>
    <message>
      <source>attached mail {number}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>attachments nested deeper than this are not searchable</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the attached mail {mail} could not be read ({reason})</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the attachment {file} could not be read: {reason}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{attachment}: {note}</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>main_window</name>
    <message>
      <source>Chat</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Preset, instructions and answer settings for this chat</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Ready</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>⚙ Chat settings</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>manager</name>
    <message>
      <source>Unexpected problem: {problem}</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>markdown_render</name>
    <message>
      <source>Copy</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>code</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>message_widget</name>
    <message>
      <source>Answer: {answer}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Assistant</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Cancel</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Copied ✓</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Copy</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Copy this message</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Cut off: the answer reached its length limit. Ask “go on” for the rest.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Earlier version</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Edit</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Edit this message and send it again</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Failed.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Interrupted: the engine stopped before this answer was finished.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Later version</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Not in the model's memory</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Regenerate</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Send</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Speed: {speed}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Stopped.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>System</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This conversation is longer than the model's context: the oldest messages are left out of what the model sees when it answers.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Write this answer again</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>You</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>first word after {time}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>from the server {server}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>on this computer</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{figures} (a token is about ¾ of a word)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{number}/{count}</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>model</name>
    <message>
      <source>Connection problem; trying again in {seconds} s</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Hugging Face gives no checksum for {file}, so Enclave cannot check it.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the download kept failing</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>model_bar</name>
    <message>
      <source>Architecture:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Cancel</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Chat template:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Context:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Details</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Free the memory the model uses</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>GPU layers:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Get one in Discover, or open a model file you already have.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Load</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Loading… %p%</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Made for:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Memory:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Name in the file:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No model yet</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Open a model file you already have (a .gguf file; or drop it on the window)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Open model…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Parameters:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Quantization:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>RAM {ram}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Remembers:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Runs:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Size, quality, memory and the technical facts of this model</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Size:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Technical details</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Unload</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>continuing text (a base model)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>conversations</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>fully on the graphics card (GPU)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>graphics card {gpu_memory} · RAM {ram}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>in the file</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>none (a standard one is used)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>on the processor (CPU): slower than on a graphics card</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>partly on the graphics card (GPU), the rest on the processor</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{amount} of a conversation</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{amount} {unit}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{layers} of {total}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{size} · Quality: {quality}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{tokens} tokens (trained for {trained})</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>model_page</name>
    <message numerus="yes">
      <source>%n files</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>*The description could not be loaded.*</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>*This model has no description.*</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Added to Downloads. It starts when offline mode is off.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Download</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Download {file} ({size})</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>File</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Looking up the files on Hugging Face…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>None of these files fits this computer well. Try a smaller model.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>On this computer</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Open Settings</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Pick a file to download. Smaller files run faster.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Quality</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Queued ✓</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Size</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Something went wrong: {error}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The highlighted file is the best choice for this computer. Smaller files run faster; larger ones answer a little better.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model has no GGUF files Enclave can use.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation does not allow any file of this model.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>asks you to accept its license</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>balanced, the usual choice</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>by {author}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>high quality</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>license: {license}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>near original, large</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>not stated</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>original, largest</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>small, fair quality</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>smallest, lowest quality</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>updated {when}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>very high quality</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{best} — {verdict}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{count} downloads</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{count} likes</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{model} on Hugging Face</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{name}  (one model in {parts} parts)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{quality} ({quant})</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>← Back to Discover</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>★ Best choice for this computer</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>model_presenter</name>
    <message>
      <source>Answers come from the server {server} now. To use a model on this computer, turn off “Use a server” in Settings.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Answers come from the server {server}: your messages go there, not to a model on this computer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>GGUF models (*.gguf);;All files (*)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Loaded {file} in {seconds} s</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Loading cancelled.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No server model chosen</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Not loaded.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Not loaded. Click Load to use it.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Open a model</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Please wait: the engine is busy. Stop the answer first.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Reading the model file…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The engine stopped. Click “Reload model” to go on.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The model used last time ({file}) is no longer there. Open another one.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This is a base model: it continues text rather than answering questions, so its replies may ramble. For conversations, choose a model made for chat (its name usually says “Instruct” or “Chat”): Discover recommends one for this computer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Unloaded: the memory is free. Click Load to use it again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation's default model ({model}) is not on this computer. Open another one.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{file} is too large for this computer: {reason}</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>models</name>
    <message>
      <source>Discover</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Library</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Settings</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{file} is downloaded: it is in your Library.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>models_common</name>
    <message numerus="yes">
      <source>%n days ago</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message numerus="yes">
      <source>%n hours ago</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message numerus="yes">
      <source>%n minutes ago</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message numerus="yes">
      <source>%n months ago</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message numerus="yes">
      <source>%n years ago</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>Checking…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>On the processor only: slow</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Partly on the GPU: a little slower</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Partly on the GPU: slower</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Runs fully on your GPU</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Too large for this computer</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Unknown</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>just now</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>yesterday</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{count}B</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{count}K</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{count}M</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{hours} h {minutes} min left</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{minutes} min left</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{seconds} s left</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>notice_bar</name>
    <message>
      <source>Dismiss</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>ocr</name>
    <message>
      <source>a picture: reading text from pictures is turned off</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>reading the text in the picture (page {page} of {pages})</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the picture is too large to read</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the picture looks damaged</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>office</name>
    <message>
      <source>only the first {rows} spreadsheet rows are searchable</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>page_rail</name>
    <message>
      <source>{page} ({shortcut})</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>plain_words</name>
    <message>
      <source>about {count} words</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>about {words} words a second</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>excellent</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>fair</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>good</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>low</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>lowest</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>near original</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>original</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>very good</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{minutes} min {seconds} s</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{seconds} s</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{words} ({count} tokens)</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>planner</name>
    <message>
      <source>Context lowered from {wanted} to {tokens} tokens to fit in memory.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Context: {tokens} tokens.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Estimated from the file size only; the real plan is made once it is downloaded.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Even with a {tokens}-token context and part on the GPU, the model does not fit in memory ({free} RAM free, {kept} kept for the system).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>GPU {gpu}: plan uses {used} of {free} free (keeping {kept} for the driver and other apps).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Needs {needed}, this computer has {have} available</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Only the output layer on your GPU, the rest on the CPU: slower</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Pick a smaller model or a smaller quantization (for example Q4_K_M instead of Q8_0).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>RAM: plan uses {used} of {available} available.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Runs fully on your GPU</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Runs on the CPU (no usable GPU found): slower than on a GPU</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Runs on the CPU, the GPU has too little free memory: slower</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The model was trained for at most {trained} tokens of context, so {wanted} was capped.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>To keep a {tokens}-token context, Enclave stores the conversation memory in a compact 8-bit form: {compact} instead of {full} (answers stay practically the same).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{on_gpu} of {layers} layers on your GPU, the rest on the CPU: slower</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{size} GB</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{size} MB</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>policy</name>
    <message>
      <source>Until it is fixed, Enclave uses the strictest settings: no internet, no downloads, no company server, no local API, and conversations are not saved.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>strictest reading (the policy could not be read in full)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{origin} could not be read: {why}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{origin}: “{key}” is not a policy key Enclave knows (a typo?).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{origin}: “{key}” should be a list of texts.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{origin}: “{key}” should be a text that is not empty.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{origin}: “{key}” should be true or false.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>policy_rules</name>
    <message>
      <source>Answers come from this computer only, never from a server.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Conversations are not saved: they are gone when Enclave closes.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Conversations are saved on this computer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Downloading models is turned off: use the models already on this computer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Enclave may connect to the internet for search and downloads.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Enclave never connects to the internet: no search and no downloads.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Models can be downloaded.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Models come from this folder too. Enclave only reads it, never writes there.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>New conversations start with this preset.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No model is allowed on this computer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Only these company servers can answer instead of this computer.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Only these models can be found and opened; others are hidden or refused.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Other programs may use Enclave's model through the local API.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The local API is off: other programs cannot use Enclave's model.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The local API may only listen on these addresses.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This model opens when you have not chosen one yourself.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation does not allow answers from a server: models run on this computer only.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation does not allow the API on {address}. Addresses allowed: {allowed}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation does not allow the model {model} on this computer. Models allowed: {allowed}. Ask your IT department if you need it.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation does not allow the model {model}, so it cannot be downloaded.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation does not allow the server {server}. Servers allowed: {allowed}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation has turned off the local API: other programs cannot use Enclave's model.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>no</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>none</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>yes</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{folder} is your organisation's shared models folder: Enclave only reads it. Choose another models folder in Settings for your own downloads.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>policy_sources</name>
    <message>
      <source>{origin} could not be read: it is not a UTF-8 text file.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{origin} could not be read: it is not a valid property list.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{origin} could not be read: it is not valid JSON (line {line}).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{origin} could not be read: it is not valid JSON.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{origin} could not be read: it should hold a dictionary of keys.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{origin} could not be read: it should hold one JSON object, { ... }.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{origin} could not be read: there is no such file.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>policy_view</name>
    <message>
      <source>API addresses</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Chat history</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Company servers</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Default model</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Default preset</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Downloads</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Internet</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Local API</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Models allowed</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Open Settings</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Organisation's models folder</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your IT department has set these. You cannot change them here.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation's policy for Enclave could not be read in full, so Enclave uses its strictest settings until IT fixes it. Settings says what is wrong.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{key}, set in {source}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{lock} &lt;b&gt;{setting}&lt;/b&gt;: {value}. {explanation}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{lock} Set by your organisation</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{setting}: {value}. {explanation}</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>presets</name>
    <message>
      <source>A preset needs a name.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Any language in, English out.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Creative writing</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Everyday questions and answers.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Explain like I'm new</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Helpful assistant</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Precise (code and facts)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Rewrite formally</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Short bullet points of a text you paste.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Simple explanations without jargon.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Steadier answers for code, numbers and facts.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Stories, poems, ideas: more varied answers.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Summarize</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Translate to English</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Turns a draft into a professional message.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>“{preset}” is a built-in preset; choose another name.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>progress</name>
    <message>
      <source>{amount} B</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{amount} GB</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{amount} KB</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{amount} MB</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{amount} TB</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>queue</name>
    <message>
      <source>The app is closing.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>remote</name>
    <message>
      <source>Connected to {server}, but it has no model “{model}”. Choose one of its models.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Connected to {server}, but the server offers no models.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Connected to {server}. “{model}” answered in {seconds} s.</source>
      <translation type="unfinished" />
    </message>
    <message numerus="yes">
      <source>Connected to {server}: %n models available. Choose one.</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>No model is chosen for the server. Choose one in Settings.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The server at {server} returned {embeddings} embeddings for {texts} texts.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>remote_address</name>
    <message>
      <source>Enter the server's address, for example http://ai-server:8000.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>“{address}” is not a server address. It looks like http://ai-server:8000.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>remote_errors</name>
    <message>
      <source>Enclave cannot reach the server at {server}. Check the address, or ask your IT department whether it is running.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The conversation is too long for the model on the server. Start a new conversation, or use fewer documents.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The server at {server} answered with an error ({status}): {words}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The server at {server} closed the connection before it answered. Try again, or ask your IT department whether it is running.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The server at {server} did not answer within {seconds} seconds. It may be busy; try again, or ask your IT department.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The server at {server} does not have the model “{model}” ({words}). Check the address and the model in Settings.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The server at {server} does not have what Enclave asked for ({words}). Check the address and the model in Settings.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The server at {server} is busy. Try again in a moment.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The server at {server} needs a key. Enter it in Settings (ask your IT department).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The server at {server} refused the key. Check the key in Settings, or ask your IT department for a new one.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The server at {server} reported an error: {words}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The server at {server} sent an answer Enclave does not understand ({problem}).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The server at {server} sent nothing more for {seconds} seconds. What arrived is kept.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The server stopped in the middle of the answer. What arrived is kept.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>rtf</name>
    <message>
      <source>only the first part of the RTF file is searchable (the file is very long)</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>search</name>
    <message>
      <source>Collection {collection} was indexed with another embedding model; keyword search only there until it is re-indexed.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No embedding model available ({reason}): keyword search (BM25) only.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No embedding model available: keyword search (BM25) only.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>secrets</name>
    <message>
      <source>Your computer's password store could not remove the Hugging Face token.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your computer's password store could not remove the server key.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your computer's password store could not save the API key. Unlock it (or install one) and try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your computer's password store could not save the Hugging Face token. Unlock it (or install one) and try again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your computer's password store could not save the server key. Unlock it (or install one) and try again.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>server_settings</name>
    <message>
      <source>A key is saved in your computer's password store</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Address:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Company server</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Company server key</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Could not save the settings: {error}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Documents: prepare them for search on the server</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Documents: prepare them for search on this computer</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Enclave can use a model on your company's server (one that speaks the OpenAI API) instead of the model on this computer. Your messages then go to that server. Your IT department can tell you its address and give you a key.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Enter the server's address first.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Enter the server's address first: the key is kept for that server.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Forget key</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Kept in your computer's password store.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Key forgotten.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Key:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Model on the company server</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Model:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Paste the key here (leave empty if the server needs none)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Press Test to see the server's models</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Test</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Testing…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The test failed: {error}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Use a server instead of this computer</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>With the server, your documents' text is sent to it for indexing. Changing this indexes your collections again.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation allows only these servers: {servers}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation does not allow a server: answers come from this computer only.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>✓ Key saved in your computer's password store.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>session</name>
    <message numerus="yes">
      <source>%n documents</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message numerus="yes">
      <source>%n passages</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>Load a model first: open one with “Open model…”.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Looking through your documents…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Not all of the document was read: {reason}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Reading your question and {passages} from {documents}…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Reading your question…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Reading {file}…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Summarise {file}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The disk is full: this chat could not be saved. Free some space; until then, what you see here is not kept when Enclave closes.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The {count} oldest messages were left out to fit the context.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This chat is answered by the server {server}: your messages, and passages from documents you choose, are sent to it.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>settings_page</name>
    <message>
      <source>Also list models from other apps (LM Studio, GPT4All, Ollama, Hugging Face cache)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Checking…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Choose the models folder</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Choose…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Conversation memory:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Could not save the settings: {error}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Documents</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>How much text a conversation can hold. Larger needs more memory; Enclave lowers it automatically when a model would not fit.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Hugging Face account</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Hugging Face token</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Internet</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Kept in your computer's password store, never in a file.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Models</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Models folder</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Models folder:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>No token saved. Most models do not need one.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Offline mode: never connect to the internet (no search, no downloads)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Open</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Paste your token in the box first.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Read scanned pages and pictures (slower: a few seconds per page)</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Remove token</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Save token</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Saved.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Settings</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Some models ask you to accept their license before downloading. For those, create a “Read” token at &lt;a href="{url}"&gt;huggingface.co/settings/tokens&lt;/a&gt; and paste it here. It is kept in your computer's password store, never in a file.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Text recognition (OCR) runs on this computer; it applies the next time a folder is indexed.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>That value cannot be used for this setting.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Token removed.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Use a Hugging Face token another program left on this computer, for models that need an account</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation has turned off downloads: search works, downloading does not.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation keeps Enclave offline: this cannot be turned off.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Your organisation's models come from {folder} too. Enclave only reads that folder.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>✓ A token is saved in your computer's password store.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>✓ Token saved in your computer's password store.</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>speed_label</name>
    <message>
      <source>Enclave cannot predict a writing speed for this file.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>For a question about your documents (about {tokens} tokens to read first), the first word comes after about {time}.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Measure speed again</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Measure this computer's speed again (about 10 seconds), for example after closing other programs. The speeds shown and the recommendation follow.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Measuring…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Predicted for this computer, from the file's size only (an estimate; the real figure comes after download):</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Predicted for this computer, from this file's own description:</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Speed here</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>That is slow here (comfortable: at least {tokens_per_second} tokens a second and the first word within {seconds} s).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This computer's speed could not be measured.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>This computer's speed is being measured (a few seconds, once).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Too large for this computer, so no speed to predict.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Unknown</source>
      <translation type="unfinished" />
    </message>
    <message numerus="yes">
      <source>about %n words a second</source>
      <translation type="unfinished">
        <numerusform />
        <numerusform />
      </translation>
    </message>
    <message>
      <source>less than a word a second</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>under a second</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>writes about {tokens_per_second} tokens a second, which is about {words_per_second} words a second (words ≈ tokens × 0.75: a model writes in pieces of words called tokens).</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{minutes} min</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{seconds} s</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>{speed} · first word after {time}</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>store</name>
    <message>
      <source>New chat</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>summarise</name>
    <message>
      <source>Combining the summaries of {file} ({part} of {parts})…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Reading {file}: part {part} of {parts}…</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The model's context ({tokens} tokens) is too small to read a document in parts.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>The summaries of this document do not fit the model's context.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Writing the summary of {file}…</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>token_question</name>
    <message>
      <source>Another program on this computer has left a Hugging Face token (a sign-in) in {place}. Should Enclave use it?</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Don't use it</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Enclave does not use it unless you say so. If you do, Enclave sends it only to Hugging Face, and only for models that need an account (models whose license you accepted there). Searches never carry it. You can also save a token of your own in Settings.</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Use it</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>Use your Hugging Face sign-in from another program?</source>
      <translation type="unfinished" />
    </message>
  </context>
  <context>
    <name>tokens</name>
    <message>
      <source>the file {path}</source>
      <translation type="unfinished" />
    </message>
    <message>
      <source>the {name} environment variable</source>
      <translation type="unfinished" />
    </message>
  </context>
</TS>
