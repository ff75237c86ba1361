<?xml version='1.0' encoding='utf-8'?>
<TS version="2.1" language="de" sourcelanguage="en">
  <context>
    <name>__init__</name>
    <message>
      <source>Documents</source>
      <translation>Dokumente</translation>
    </message>
  </context>
  <context>
    <name>api_badge</name>
    <message numerus="yes">
      <source>%n answering</source>
      <translation>
        <numerusform>%n wird beantwortet</numerusform>
        <numerusform>%n werden beantwortet</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n waiting</source>
      <translation>
        <numerusform>%n wartet</numerusform>
        <numerusform>%n warten</numerusform>
      </translation>
    </message>
    <message>
      <source>API: {activity}</source>
      <translation>API: {activity}</translation>
    </message>
    <message>
      <source>Other programs are using the model through Enclave's API.</source>
      <translation>Andere Programme nutzen das Modell über die API von Enclave.</translation>
    </message>
  </context>
  <context>
    <name>api_settings</name>
    <message>
      <source>A new key. Your computer's password store could not keep it, so it works until Enclave closes.</source>
      <translation>Ein neuer Schlüssel. Der Passwortspeicher Ihres Computers konnte ihn nicht aufbewahren, daher gilt er nur, bis Enclave geschlossen wird.</translation>
    </message>
    <message>
      <source>A new key: copy it now into the programs that will use Enclave.</source>
      <translation>Ein neuer Schlüssel: Kopieren Sie ihn jetzt in die Programme, die Enclave nutzen sollen.</translation>
    </message>
    <message>
      <source>API key:</source>
      <translation>API-Schlüssel:</translation>
    </message>
    <message>
      <source>Address copied.</source>
      <translation>Adresse kopiert.</translation>
    </message>
    <message>
      <source>Address other programs use</source>
      <translation>Adresse für andere Programme</translation>
    </message>
    <message>
      <source>Allow other computers on the network</source>
      <translation>Andere Computer im Netzwerk zulassen</translation>
    </message>
    <message>
      <source>Base URL:</source>
      <translation>Basis-URL:</translation>
    </message>
    <message>
      <source>Copy</source>
      <translation>Kopieren</translation>
    </message>
    <message>
      <source>Could not save the settings: {error}</source>
      <translation>Die Einstellungen konnten nicht gespeichert werden: {error}</translation>
    </message>
    <message>
      <source>Key copied.</source>
      <translation>Schlüssel kopiert.</translation>
    </message>
    <message>
      <source>Key other programs use</source>
      <translation>Schlüssel für andere Programme</translation>
    </message>
    <message>
      <source>Let other programs on this computer use the model (OpenAI-compatible API)</source>
      <translation>Anderen Programmen auf diesem Computer das Modell zur Verfügung stellen (OpenAI-kompatible API)</translation>
    </message>
    <message>
      <source>Make a new key; programs using the old one must get the new one.</source>
      <translation>Einen neuen Schlüssel erstellen; Programme, die den alten verwenden, brauchen dann den neuen.</translation>
    </message>
    <message>
      <source>New key</source>
      <translation>Neuer Schlüssel</translation>
    </message>
    <message>
      <source>Other computers on your network can then use the model if they have the key, and what they send travels unencrypted. Turn this on only on a network you trust.</source>
      <translation>Dann können andere Computer in Ihrem Netzwerk das Modell nutzen, wenn sie den Schlüssel haben, und was sie senden, wird unverschlüsselt übertragen. Schalten Sie dies nur in einem Netzwerk ein, dem Sie vertrauen.</translation>
    </message>
    <message>
      <source>Other programs</source>
      <translation>Andere Programme</translation>
    </message>
    <message>
      <source>Port:</source>
      <translation>Port:</translation>
    </message>
    <message>
      <source>Programs send this key with each request. Copy copies it.</source>
      <translation>Programme senden diesen Schlüssel bei jeder Anfrage mit. „Kopieren“ kopiert ihn.</translation>
    </message>
    <message>
      <source>Programs written for OpenAI (editors, scripts, chat apps) can then ask the model that is loaded here. Your own questions in this window always go first.</source>
      <translation>Programme, die für OpenAI geschrieben wurden (Editoren, Skripte, Chat-Apps), können dann dem hier geladenen Modell Fragen stellen. Ihre eigenen Fragen in diesem Fenster haben immer Vorrang.</translation>
    </message>
    <message>
      <source>Your organisation allows the API on this computer only, not on the network.</source>
      <translation>Ihre Organisation erlaubt die API nur auf diesem Computer, nicht im Netzwerk.</translation>
    </message>
  </context>
  <context>
    <name>cancel</name>
    <message>
      <source>Cancelled.</source>
      <translation>Abgebrochen.</translation>
    </message>
  </context>
  <context>
    <name>catalog</name>
    <message>
      <source>The starter list names {wanted}, which {repo} does not have, and none of its other files fits this computer. Choose another starter model.</source>
      <translation>Die Startliste nennt {wanted}, das es in {repo} nicht gibt, und keine der anderen Dateien passt zu diesem Computer. Wählen Sie ein anderes Startmodell.</translation>
    </message>
    <message>
      <source>The starter list names {wanted}, which {repo} does not have; downloading {chosen} instead (the same {quant} quantization).</source>
      <translation>Die Startliste nennt {wanted}, das es in {repo} nicht gibt; stattdessen wird {chosen} heruntergeladen (dieselbe Quantisierung {quant}).</translation>
    </message>
    <message>
      <source>The starter list names {wanted}, which {repo} does not have; downloading {chosen} instead ({quant}, the best fit for this computer).</source>
      <translation>Die Startliste nennt {wanted}, das es in {repo} nicht gibt; stattdessen wird {chosen} heruntergeladen ({quant}, passt am besten zu diesem Computer).</translation>
    </message>
    <message>
      <source>The starter list names {wanted}, which {repo} does not have; downloading {chosen} instead ({quant}, the nearest quantization to {near}).</source>
      <translation>Die Startliste nennt {wanted}, das es in {repo} nicht gibt; stattdessen wird {chosen} heruntergeladen ({quant}, die Quantisierung, die {near} am nächsten kommt).</translation>
    </message>
    <message>
      <source>The starter model list could not be read ({path}).</source>
      <translation>Die Liste der Startmodelle konnte nicht gelesen werden ({path}).</translation>
    </message>
    <message>
      <source>The starter model list is empty.</source>
      <translation>Die Liste der Startmodelle ist leer.</translation>
    </message>
  </context>
  <context>
    <name>catalog_json</name>
    <message>
      <source>A solid all-rounder for chat and questions about your documents.</source>
      <translation>Ein solider Allrounder für Unterhaltungen und Fragen zu Ihren Dokumenten.</translation>
    </message>
    <message>
      <source>A strong general assistant: writing, analysis, many languages.</source>
      <translation>Ein starker Assistent für alles: Schreiben, Analysieren, viele Sprachen.</translation>
    </message>
    <message>
      <source>Clear writing and summaries of long documents (128k context), 140 languages.</source>
      <translation>Klare Texte und Zusammenfassungen langer Dokumente (128k Kontext), 140 Sprachen.</translation>
    </message>
    <message>
      <source>Google's largest open Gemma: top quality on a 24 GB graphics card.</source>
      <translation>Googles größtes offenes Gemma: Spitzenqualität auf einer Grafikkarte mit 24 GB.</translation>
    </message>
    <message>
      <source>High-quality writing and long documents when you have a graphics card.</source>
      <translation>Hochwertige Texte und lange Dokumente, wenn Sie eine Grafikkarte haben.</translation>
    </message>
    <message>
      <source>Light everyday help and short summaries on older laptops.</source>
      <translation>Leichte Hilfe im Alltag und kurze Zusammenfassungen auf älteren Laptops.</translation>
    </message>
    <message>
      <source>Near top-tier quality for demanding work, on a 16-24 GB graphics card.</source>
      <translation>Fast Spitzenqualität für anspruchsvolle Arbeit, auf einer Grafikkarte mit 16–24 GB.</translation>
    </message>
    <message>
      <source>Noticeably smarter answers on a computer with a 12 GB+ graphics card.</source>
      <translation>Spürbar klügere Antworten auf einem Computer mit einer Grafikkarte ab 12 GB.</translation>
    </message>
    <message>
      <source>Popular, well-rounded assistant for work questions and drafting.</source>
      <translation>Beliebter, vielseitiger Assistent für Fragen aus der Arbeit und erste Entwürfe.</translation>
    </message>
    <message>
      <source>Programming: writing, explaining and fixing code.</source>
      <translation>Programmieren: Code schreiben, erklären und korrigieren.</translation>
    </message>
    <message>
      <source>Reasoning, maths and step-by-step explanations in a small package.</source>
      <translation>Logisches Denken, Mathematik und Erklärungen Schritt für Schritt – klein und kompakt.</translation>
    </message>
    <message>
      <source>Small and friendly: short emails, rewording, quick questions, many languages.</source>
      <translation>Klein und freundlich: kurze E-Mails, Umformulieren, schnelle Fragen, viele Sprachen.</translation>
    </message>
    <message>
      <source>Small but capable, many languages; reasons step by step when asked a hard question.</source>
      <translation>Klein, aber fähig, viele Sprachen; denkt bei schweren Fragen Schritt für Schritt nach.</translation>
    </message>
    <message>
      <source>Strong for its size: analysis, writing and careful step-by-step answers.</source>
      <translation>Stark für seine Größe: Analysen, Texte und sorgfältige Antworten Schritt für Schritt.</translation>
    </message>
    <message>
      <source>Tiny and fast: quick answers and trying Enclave on any computer. It may think aloud before answering.</source>
      <translation>Winzig und schnell: schnelle Antworten und Enclave auf jedem Computer ausprobieren. Es denkt manchmal laut nach, bevor es antwortet.</translation>
    </message>
  </context>
  <context>
    <name>chat_context</name>
    <message>
      <source>No matching passages were found in the selected documents.</source>
      <translation>In den ausgewählten Dokumenten wurden keine passenden Textstellen gefunden.</translation>
    </message>
    <message>
      <source>No more passages fit this model's context ({tokens} tokens); a longer context in the model's settings makes room for more.</source>
      <translation>Es passen keine weiteren Textstellen in das Modellgedächtnis ({tokens} Tokens); ein größeres Modellgedächtnis in den Einstellungen des Modells schafft Platz für mehr.</translation>
    </message>
    <message>
      <source>The embedding model could not be used: keyword search (BM25) only.</source>
      <translation>Das Einbettungsmodell konnte nicht verwendet werden: nur Stichwortsuche (BM25).</translation>
    </message>
  </context>
  <context>
    <name>chat_presenter</name>
    <message>
      <source>Ask a question below to start.</source>
      <translation>Stellen Sie unten eine Frage, um zu beginnen.</translation>
    </message>
    <message>
      <source>Choose a server model in Settings</source>
      <translation>Servermodell in den Einstellungen wählen</translation>
    </message>
    <message>
      <source>Last engine log lines:</source>
      <translation>Letzte Zeilen aus dem Protokoll der Engine:</translation>
    </message>
    <message>
      <source>Load a model first</source>
      <translation>Zuerst ein Modell laden</translation>
    </message>
    <message>
      <source>Reload model</source>
      <translation>Modell neu laden</translation>
    </message>
    <message>
      <source>To chat, Enclave needs a model: the program that writes the answers. It can choose one that suits this computer and download it for you — one click below.
Already have a model file (.gguf)? Click “Open model…” above, or drop it on this window.
Your conversations stay on this computer.</source>
      <translation>Zum Chatten braucht Enclave ein Modell: das Programm, das die Antworten schreibt. Enclave kann eines auswählen, das zu diesem Computer passt, und es für Sie herunterladen – mit einem Klick unten.
Sie haben bereits eine Modelldatei (.gguf)? Klicken Sie oben auf „Modell öffnen…“ oder ziehen Sie die Datei auf dieses Fenster.
Ihre Unterhaltungen bleiben auf diesem Computer.</translation>
    </message>
    <message>
      <source>What had arrived is kept, marked as interrupted.</source>
      <translation>Was bereits angekommen war, bleibt erhalten und wird als unterbrochen markiert.</translation>
    </message>
    <message>
      <source>Your edited question is a new version. The earlier question and its answers are kept: use ‹ › beside the question to switch between them.</source>
      <translation>Ihre bearbeitete Frage ist eine neue Version. Die frühere Frage und ihre Antworten bleiben erhalten: Mit ‹ › neben der Frage wechseln Sie zwischen den Versionen.</translation>
    </message>
  </context>
  <context>
    <name>chat_settings_presenter</name>
    <message>
      <source>(You asked for {asked}: this model and computer allow {allowed}.)</source>
      <translation>(Sie wollten {asked}: Dieses Modell und dieser Computer erlauben {allowed}.)</translation>
    </message>
    <message>
      <source>Loaded with a context of {tokens} tokens; chat format: {format}.</source>
      <translation>Geladen mit einem Modellgedächtnis von {tokens} Tokens; Chat-Format: {format}.</translation>
    </message>
    <message>
      <source>Not loaded. “Apply &amp; reload” loads {file} with these settings.</source>
      <translation>Nicht geladen. „Übernehmen &amp; neu laden“ lädt {file} mit diesen Einstellungen.</translation>
    </message>
    <message>
      <source>Open a model first: click “Open model…”.</source>
      <translation>Öffnen Sie zuerst ein Modell: Klicken Sie auf „Modell öffnen…“.</translation>
    </message>
    <message>
      <source>Open a model to choose its context size and chat format.</source>
      <translation>Öffnen Sie ein Modell, um die Größe seines Modellgedächtnisses und sein Chat-Format zu wählen.</translation>
    </message>
    <message>
      <source>Wait for the answer to finish (or press Stop), then reload.</source>
      <translation>Warten Sie, bis die Antwort fertig ist (oder klicken Sie auf „Stopp“), und laden Sie dann neu.</translation>
    </message>
    <message>
      <source>Your new choice takes effect after “Apply &amp; reload”.</source>
      <translation>Ihre neue Auswahl wird nach „Übernehmen &amp; neu laden“ wirksam.</translation>
    </message>
    <message>
      <source>the model's own</source>
      <translation>vom Modell vorgegeben</translation>
    </message>
  </context>
  <context>
    <name>chat_view</name>
    <message>
      <source>Ask anything — Enter to send, Shift+Enter for a new line</source>
      <translation>Fragen Sie, was Sie möchten – Enter zum Senden, Shift+Enter für eine neue Zeile</translation>
    </message>
    <message>
      <source>Earlier messages are beyond the model's memory</source>
      <translation>Frühere Nachrichten passen nicht mehr ins Modellgedächtnis</translation>
    </message>
    <message>
      <source>Get the recommended model for this computer</source>
      <translation>Passendes Modell herunterladen</translation>
    </message>
    <message>
      <source>Send</source>
      <translation>Senden</translation>
    </message>
    <message numerus="yes">
      <source>Show %n earlier messages ({hidden} not shown)</source>
      <translation>
        <numerusform>%n frühere Nachricht anzeigen ({hidden} ausgeblendet)</numerusform>
        <numerusform>%n frühere Nachrichten anzeigen ({hidden} ausgeblendet)</numerusform>
      </translation>
    </message>
    <message>
      <source>Stop</source>
      <translation>Stopp</translation>
    </message>
    <message>
      <source>Stop the answer (Esc)</source>
      <translation>Antwort stoppen (Esc)</translation>
    </message>
    <message>
      <source>Type a question for the model; Enter sends it, Shift+Enter starts a new line.</source>
      <translation>Geben Sie eine Frage an das Modell ein; Enter sendet sie, Shift+Enter beginnt eine neue Zeile.</translation>
    </message>
    <message>
      <source>Your question</source>
      <translation>Ihre Frage</translation>
    </message>
  </context>
  <context>
    <name>citations</name>
    <message numerus="yes">
      <source>%n documents</source>
      <translation>
        <numerusform>%n Dokument</numerusform>
        <numerusform>%n Dokumenten</numerusform>
      </translation>
    </message>
    <message>
      <source>Answer the same question again, reading about twice as many passages from your documents. The answer you have now is kept as an earlier version.</source>
      <translation>Dieselbe Frage noch einmal beantworten und dabei etwa doppelt so viele Textstellen aus Ihren Dokumenten lesen. Die jetzige Antwort bleibt als frühere Version erhalten.</translation>
    </message>
    <message>
      <source>From &lt;b&gt;{file}&lt;/b&gt;</source>
      <translation>Aus &lt;b&gt;{file}&lt;/b&gt;</translation>
    </message>
    <message>
      <source>No program on this computer could open {file}. The passage the answer used is shown here.</source>
      <translation>Kein Programm auf diesem Computer konnte {file} öffnen. Hier sehen Sie die Textstelle, die für die Antwort verwendet wurde.</translation>
    </message>
    <message>
      <source>Open file</source>
      <translation>Datei öffnen</translation>
    </message>
    <message>
      <source>Open {path}</source>
      <translation>{path} öffnen</translation>
    </message>
    <message>
      <source>Read all of {file} and summarise it</source>
      <translation>{file} vollständig lesen und zusammenfassen</translation>
    </message>
    <message>
      <source>Show passage</source>
      <translation>Textstelle anzeigen</translation>
    </message>
    <message>
      <source>Show passages</source>
      <translation>Textstellen anzeigen</translation>
    </message>
    <message>
      <source>Summarise</source>
      <translation>Zusammenfassen</translation>
    </message>
    <message>
      <source>Use more passages</source>
      <translation>Mehr Textstellen nutzen</translation>
    </message>
    <message numerus="yes">
      <source>Used %n passages from {documents}</source>
      <translation>
        <numerusform>%n Textstelle aus {documents} verwendet</numerusform>
        <numerusform>%n Textstellen aus {documents} verwendet</numerusform>
      </translation>
    </message>
    <message>
      <source>{file} is no longer at {path} (moved or deleted?).</source>
      <translation>{file} ist nicht mehr unter {path} (verschoben oder gelöscht?).</translation>
    </message>
  </context>
  <context>
    <name>client</name>
    <message>
      <source>No model is loaded.</source>
      <translation>Es ist kein Modell geladen.</translation>
    </message>
  </context>
  <context>
    <name>collection_picker</name>
    <message>
      <source>Answer from your documents: choose the collections to use</source>
      <translation>Aus Ihren Dokumenten antworten: Wählen Sie die Sammlungen aus</translation>
    </message>
    <message>
      <source>Answering from: {collections}. {choose}.</source>
      <translation>Antworten aus: {collections}. {choose}.</translation>
    </message>
    <message numerus="yes">
      <source>Documents: %n collections</source>
      <translation>
        <numerusform>Dokumente: %n Sammlung</numerusform>
        <numerusform>Dokumente: %n Sammlungen</numerusform>
      </translation>
    </message>
    <message>
      <source>Documents: off</source>
      <translation>Dokumente: aus</translation>
    </message>
    <message>
      <source>Documents: {collection}</source>
      <translation>Dokumente: {collection}</translation>
    </message>
    <message>
      <source>Manage documents…</source>
      <translation>Dokumente verwalten…</translation>
    </message>
    <message>
      <source>No collections yet</source>
      <translation>Noch keine Sammlungen</translation>
    </message>
  </context>
  <context>
    <name>context_meter</name>
    <message numerus="yes">
      <source>%n oldest message left out — beyond the model's memory</source>
      <translation>
        <numerusform>%n älteste Nachricht ausgelassen – passt nicht mehr ins Modellgedächtnis</numerusform>
        <numerusform>%n älteste Nachrichten ausgelassen – passen nicht mehr ins Modellgedächtnis</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n oldest messages left out — beyond the model's memory</source>
      <translation>
        <numerusform>%n älteste Nachricht ausgelassen – passt nicht mehr ins Modellgedächtnis</numerusform>
        <numerusform>%n älteste Nachrichten ausgelassen – passen nicht mehr ins Modellgedächtnis</numerusform>
      </translation>
    </message>
    <message>
      <source>How much of the model's memory (its context) this conversation fills. When it is full, the oldest messages are left out of what the model sees.</source>
      <translation>Wie viel des Modellgedächtnisses (seines Kontexts) diese Unterhaltung belegt. Ist es voll, sieht das Modell die ältesten Nachrichten nicht mehr.</translation>
    </message>
    <message>
      <source>Model memory: less than 1% full</source>
      <translation>Modellgedächtnis: weniger als 1 % belegt</translation>
    </message>
    <message>
      <source>Model memory: {percent}% full</source>
      <translation>Modellgedächtnis: {percent} % belegt</translation>
    </message>
    <message>
      <source>The conversation is longer than the model's context. The assistant still answers, but no longer sees the oldest messages. A larger context size (Chat settings › Advanced) lets it remember more.</source>
      <translation>Die Unterhaltung ist länger als das Modellgedächtnis. Der Assistent antwortet weiterhin, sieht aber die ältesten Nachrichten nicht mehr. Mit einem größeren Modellgedächtnis (Chat-Optionen › Erweitert) kann er sich mehr merken.</translation>
    </message>
    <message>
      <source>about {used} of {total} tokens (a token is about ¾ of a word).</source>
      <translation>etwa {used} von {total} Tokens (ein Token ist etwa ¾ eines Wortes).</translation>
    </message>
    <message>
      <source>{used} of {total} tokens (a token is about ¾ of a word).</source>
      <translation>{used} von {total} Tokens (ein Token ist etwa ¾ eines Wortes).</translation>
    </message>
  </context>
  <context>
    <name>controller</name>
    <message>
      <source>Off.</source>
      <translation>Aus.</translation>
    </message>
    <message>
      <source>On: programs on this computer and the network can connect at {address}</source>
      <translation>An: Programme auf diesem Computer und im Netzwerk können sich unter {address} verbinden</translation>
    </message>
    <message>
      <source>On: programs on this computer can connect at {address}</source>
      <translation>An: Programme auf diesem Computer können sich unter {address} verbinden</translation>
    </message>
    <message>
      <source>Starting…</source>
      <translation>Wird gestartet…</translation>
    </message>
    <message>
      <source>Stopping…</source>
      <translation>Wird beendet…</translation>
    </message>
    <message>
      <source>The API could not start.</source>
      <translation>Die API konnte nicht starten.</translation>
    </message>
  </context>
  <context>
    <name>conversation_list</name>
    <message>
      <source>+  New chat</source>
      <translation>+  Neuer Chat</translation>
    </message>
    <message>
      <source>Could not save {file}: {reason}</source>
      <translation>{file} konnte nicht gespeichert werden: {reason}</translation>
    </message>
    <message>
      <source>Delete</source>
      <translation>Löschen</translation>
    </message>
    <message>
      <source>Deleted “{title}”</source>
      <translation>„{title}“ gelöscht</translation>
    </message>
    <message>
      <source>Enclave conversation (*.json)</source>
      <translation>Enclave-Unterhaltung (*.json)</translation>
    </message>
    <message>
      <source>Enclave conversation (*.json);;All files (*)</source>
      <translation>Enclave-Unterhaltung (*.json);;Alle Dateien (*)</translation>
    </message>
    <message>
      <source>Export as JSON</source>
      <translation>Als JSON exportieren</translation>
    </message>
    <message>
      <source>Export as JSON…</source>
      <translation>Als JSON exportieren…</translation>
    </message>
    <message>
      <source>Export as Markdown</source>
      <translation>Als Markdown exportieren</translation>
    </message>
    <message>
      <source>Export as Markdown…</source>
      <translation>Als Markdown exportieren…</translation>
    </message>
    <message>
      <source>Import a conversation</source>
      <translation>Unterhaltung importieren</translation>
    </message>
    <message>
      <source>Import a conversation saved as JSON by Enclave</source>
      <translation>Eine Unterhaltung importieren, die Enclave als JSON gespeichert hat</translation>
    </message>
    <message>
      <source>Imported “{title}”</source>
      <translation>„{title}“ importiert</translation>
    </message>
    <message>
      <source>Import…</source>
      <translation>Importieren…</translation>
    </message>
    <message>
      <source>Markdown (*.md)</source>
      <translation>Markdown (*.md)</translation>
    </message>
    <message>
      <source>New chat</source>
      <translation>Neue Unterhaltung</translation>
    </message>
    <message>
      <source>No conversations match “{query}”</source>
      <translation>Keine Unterhaltungen zu „{query}“ gefunden</translation>
    </message>
    <message>
      <source>No conversations yet — ask a question to start one</source>
      <translation>Noch keine Unterhaltungen – stellen Sie eine Frage, um eine zu beginnen</translation>
    </message>
    <message>
      <source>Rename</source>
      <translation>Umbenennen</translation>
    </message>
    <message>
      <source>Saved {path}</source>
      <translation>{path} gespeichert</translation>
    </message>
    <message>
      <source>Saved “{file}”</source>
      <translation>„{file}“ gespeichert</translation>
    </message>
    <message>
      <source>Search conversations</source>
      <translation>Unterhaltungen durchsuchen</translation>
    </message>
    <message>
      <source>Search conversations  (Ctrl+K)</source>
      <translation>Unterhaltungen durchsuchen  (Ctrl+K)</translation>
    </message>
    <message>
      <source>Start a new conversation (Ctrl+N)</source>
      <translation>Neue Unterhaltung beginnen (Ctrl+N)</translation>
    </message>
    <message>
      <source>Undo</source>
      <translation>Rückgängig</translation>
    </message>
    <message>
      <source>Your organisation has turned off chat history: conversations are not saved and are gone when Enclave closes.</source>
      <translation>Ihre Organisation hat den Verlauf ausgeschaltet: Unterhaltungen werden nicht gespeichert und sind verloren, wenn Enclave geschlossen wird.</translation>
    </message>
  </context>
  <context>
    <name>conversation_settings</name>
    <message>
      <source>Advanced</source>
      <translation>Erweitert</translation>
    </message>
    <message>
      <source>Changed from “{preset}”. &lt;a href='reset'&gt;Reset&lt;/a&gt; or save it as your own preset.</source>
      <translation>Geändert gegenüber „{preset}“. &lt;a href='reset'&gt;Zurücksetzen&lt;/a&gt; oder als eigene Vorlage speichern.</translation>
    </message>
    <message>
      <source>Chat settings</source>
      <translation>Chat-Optionen</translation>
    </message>
    <message>
      <source>Close the chat settings</source>
      <translation>Chat-Optionen schließen</translation>
    </message>
    <message>
      <source>Custom</source>
      <translation>Benutzerdefiniert</translation>
    </message>
    <message>
      <source>Delete preset</source>
      <translation>Vorlage löschen</translation>
    </message>
    <message>
      <source>Delete this preset of yours (this chat keeps its settings)</source>
      <translation>Diese eigene Vorlage löschen (diese Unterhaltung behält ihre Einstellungen)</translation>
    </message>
    <message>
      <source>For example: You are a patient teacher. Answer in French.</source>
      <translation>Zum Beispiel: Sie sind ein geduldiger Lehrer. Antworten Sie auf Französisch.</translation>
    </message>
    <message>
      <source>For the new chat: used from its first message.</source>
      <translation>Für die neue Unterhaltung: gilt ab der ersten Nachricht.</translation>
    </message>
    <message>
      <source>For this conversation only. Changes apply to the next answer.</source>
      <translation>Nur für diese Unterhaltung. Änderungen gelten ab der nächsten Antwort.</translation>
    </message>
    <message>
      <source>Instructions for the assistant</source>
      <translation>Anweisungen an das Modell</translation>
    </message>
    <message>
      <source>Instructions for this chat</source>
      <translation>Anweisungen für diese Unterhaltung</translation>
    </message>
    <message>
      <source>Keep these instructions and settings for other chats</source>
      <translation>Diese Anweisungen und Einstellungen für andere Unterhaltungen behalten</translation>
    </message>
    <message>
      <source>Name for this preset:</source>
      <translation>Name der Vorlage:</translation>
    </message>
    <message>
      <source>Not saved: {reason}</source>
      <translation>Nicht gespeichert: {reason}</translation>
    </message>
    <message>
      <source>Preset</source>
      <translation>Vorlage</translation>
    </message>
    <message>
      <source>Ready-made instructions and settings for common jobs</source>
      <translation>Fertige Anweisungen und Einstellungen für häufige Aufgaben</translation>
    </message>
    <message>
      <source>Reset to the preset</source>
      <translation>Auf die Vorlage zurücksetzen</translation>
    </message>
    <message>
      <source>Save as preset</source>
      <translation>Als Vorlage speichern</translation>
    </message>
    <message>
      <source>Save as preset…</source>
      <translation>Als Vorlage speichern…</translation>
    </message>
    <message>
      <source>Saved as “{preset}”. It is in the list for every chat.</source>
      <translation>Als „{preset}“ gespeichert. Die Vorlage steht jetzt in jeder Unterhaltung zur Auswahl.</translation>
    </message>
    <message>
      <source>The assistant reads these before every answer in this chat (the “system prompt”).</source>
      <translation>Der Assistent liest diese Anweisungen vor jeder Antwort in dieser Unterhaltung (der „System-Prompt“).</translation>
    </message>
    <message>
      <source>Your own instructions and settings.</source>
      <translation>Ihre eigenen Anweisungen und Einstellungen.</translation>
    </message>
    <message>
      <source>Your own preset</source>
      <translation>Ihre eigene Vorlage</translation>
    </message>
    <message>
      <source>Your own preset.</source>
      <translation>Ihre eigene Vorlage.</translation>
    </message>
    <message>
      <source>{preset}  (yours)</source>
      <translation>{preset}  (eigene)</translation>
    </message>
  </context>
  <context>
    <name>crash_cause</name>
    <message>
      <source>Last engine log line: {line}</source>
      <translation>Letzte Protokollzeile der Engine: {line}</translation>
    </message>
    <message>
      <source>The model engine stopped while loading {model}: {cause}.</source>
      <translation>Die Modell-Engine wurde beim Laden von {model} beendet: {cause}.</translation>
    </message>
    <message>
      <source>The model engine stopped while running {model}: {cause}.</source>
      <translation>Die Modell-Engine wurde während der Arbeit mit {model} beendet: {cause}.</translation>
    </message>
    <message>
      <source>The model engine stopped: {cause}.</source>
      <translation>Die Modell-Engine wurde beendet: {cause}.</translation>
    </message>
    <message>
      <source>The model file may be damaged or made for a newer engine.</source>
      <translation>Die Modelldatei ist möglicherweise beschädigt oder für eine neuere Engine gemacht.</translation>
    </message>
    <message>
      <source>Your conversation is safe; you can reload the model.</source>
      <translation>Ihre Unterhaltung ist sicher; Sie können das Modell neu laden.</translation>
    </message>
    <message>
      <source>a memory access error in the engine's native code</source>
      <translation>ein Speicherzugriffsfehler im nativen Code der Engine</translation>
    </message>
    <message>
      <source>a signal from the system</source>
      <translation>ein Signal des Systems</translation>
    </message>
    <message>
      <source>an arithmetic error (such as a division by zero) in the engine's native code</source>
      <translation>ein Rechenfehler (etwa eine Division durch null) im nativen Code der Engine</translation>
    </message>
    <message>
      <source>an instruction this processor does not have</source>
      <translation>ein Befehl, den dieser Prozessor nicht kennt</translation>
    </message>
    <message>
      <source>it ended with {signal}: {meaning}</source>
      <translation>sie endete mit {signal}: {meaning}</translation>
    </message>
    <message>
      <source>it exited with code {code}</source>
      <translation>sie wurde mit Code {code} beendet</translation>
    </message>
    <message>
      <source>it ran out of memory</source>
      <translation>ihr ging der Arbeitsspeicher aus</translation>
    </message>
    <message>
      <source>it stopped answering</source>
      <translation>sie hat nicht mehr reagiert</translation>
    </message>
    <message>
      <source>it was asked to stop by another program</source>
      <translation>ein anderes Programm hat sie zum Beenden aufgefordert</translation>
    </message>
    <message>
      <source>it was killed from outside, by the system (often because the computer ran out of memory) or by another program</source>
      <translation>sie wurde von außen beendet, vom System (oft, weil der Arbeitsspeicher des Computers voll war) oder von einem anderen Programm</translation>
    </message>
    <message>
      <source>it was stopped on request</source>
      <translation>sie wurde auf Anfrage beendet</translation>
    </message>
    <message>
      <source>llama.cpp stopped on one of its internal checks</source>
      <translation>llama.cpp hat bei einer seiner internen Prüfungen abgebrochen</translation>
    </message>
    <message>
      <source>the engine's native code gave up (abort)</source>
      <translation>der native Code der Engine hat aufgegeben (abort)</translation>
    </message>
    <message>
      <source>the model file could not be read any more (it changed, shrank or its disk went away)</source>
      <translation>die Modelldatei konnte nicht mehr gelesen werden (sie wurde geändert oder verkürzt, oder ihr Laufwerk ist nicht mehr da)</translation>
    </message>
    <message>
      <source>the model's architecture ('{architecture}') is not supported by this engine</source>
      <translation>die Architektur des Modells („{architecture}“) wird von dieser Engine nicht unterstützt</translation>
    </message>
    <message>
      <source>the model's architecture is not supported by this engine</source>
      <translation>die Architektur des Modells wird von dieser Engine nicht unterstützt</translation>
    </message>
  </context>
  <context>
    <name>decode</name>
    <message>
      <source>The engine could not set up sampling for this request.</source>
      <translation>Die Engine konnte das Sampling für diese Anfrage nicht einrichten.</translation>
    </message>
  </context>
  <context>
    <name>diagnose</name>
    <message>
      <source>it has been revoked</source>
      <translation>es wurde widerrufen</translation>
    </message>
    <message>
      <source>it has expired</source>
      <translation>es ist abgelaufen</translation>
    </message>
    <message>
      <source>it is not valid yet (is this computer's clock right?)</source>
      <translation>es ist noch nicht gültig (geht die Uhr dieses Computers richtig?)</translation>
    </message>
    <message>
      <source>it was issued by an authority this computer does not trust</source>
      <translation>es wurde von einer Stelle ausgestellt, der dieser Computer nicht vertraut</translation>
    </message>
    <message>
      <source>it was made out for another address</source>
      <translation>es wurde für eine andere Adresse ausgestellt</translation>
    </message>
    <message>
      <source>set for this computer</source>
      <translation>(für diesen Computer eingestellt)</translation>
    </message>
    <message>
      <source>this computer does not accept it</source>
      <translation>dieser Computer akzeptiert es nicht</translation>
    </message>
  </context>
  <context>
    <name>discover</name>
    <message numerus="yes">
      <source>%n models shown · scroll down for more</source>
      <translation>
        <numerusform>%n Modell angezeigt · für weitere nach unten scrollen</numerusform>
        <numerusform>%n Modelle angezeigt · für weitere nach unten scrollen</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n models · that is all</source>
      <translation>
        <numerusform>%n Modell · das ist alles</numerusform>
        <numerusform>%n Modelle · das sind alle</numerusform>
      </translation>
    </message>
    <message>
      <source>Checking this computer…</source>
      <translation>Dieser Computer wird geprüft…</translation>
    </message>
    <message>
      <source>Checking this computer… the download starts next.</source>
      <translation>Dieser Computer wird geprüft… danach beginnt der Download.</translation>
    </message>
    <message>
      <source>Discover models</source>
      <translation>Modelle entdecken</translation>
    </message>
    <message>
      <source>Enclave could not examine this computer; the smallest model is a safe start.</source>
      <translation>Enclave konnte diesen Computer nicht untersuchen; mit dem kleinsten Modell sind Sie auf der sicheren Seite.</translation>
    </message>
    <message>
      <source>Get the recommended model for this computer</source>
      <translation>Passendes Modell herunterladen</translation>
    </message>
    <message>
      <source>Getting {model} ({size}); see Downloads below. It appears in your Library when it is done.</source>
      <translation>{model} wird heruntergeladen ({size}); den Fortschritt sehen Sie unten unter „Downloads“. Das Modell erscheint in Ihrer Bibliothek, sobald es fertig ist.</translation>
    </message>
    <message>
      <source>Loading more…</source>
      <translation>Weitere werden geladen…</translation>
    </message>
    <message>
      <source>Most downloaded</source>
      <translation>Meiste Downloads</translation>
    </message>
    <message>
      <source>Most liked</source>
      <translation>Meiste Likes</translation>
    </message>
    <message>
      <source>New here? Start with the model that suits this computer.</source>
      <translation>Neu hier? Beginnen Sie mit dem Modell, das zu diesem Computer passt.</translation>
    </message>
    <message>
      <source>No models found.</source>
      <translation>Keine Modelle gefunden.</translation>
    </message>
    <message>
      <source>No models match “{query}”. Try a shorter or different word.</source>
      <translation>Keine Modelle zu „{query}“ gefunden. Versuchen Sie es mit einem kürzeren oder anderen Wort.</translation>
    </message>
    <message>
      <source>Offline mode is on (see Settings)</source>
      <translation>Offline-Modus ist aktiv (siehe Einstellungen)</translation>
    </message>
    <message>
      <source>Offline mode is on: Enclave does not connect to the internet, so searching and downloading are off. The starter list below still shows what would suit this computer.</source>
      <translation>Der Offline-Modus ist aktiv: Enclave verbindet sich nicht mit dem Internet, daher sind Suchen und Herunterladen ausgeschaltet. Die Startliste unten zeigt trotzdem, was zu diesem Computer passen würde.</translation>
    </message>
    <message>
      <source>Open Settings</source>
      <translation>Einstellungen öffnen</translation>
    </message>
    <message>
      <source>Recently updated</source>
      <translation>Kürzlich aktualisiert</translation>
    </message>
    <message>
      <source>Recommended here: &lt;b&gt;{model}&lt;/b&gt; · {size} · {verdict} · {speed}. {good_for}</source>
      <translation>Empfohlen für diesen Computer: &lt;b&gt;{model}&lt;/b&gt; · {size} · {verdict} · {speed}. {good_for}</translation>
    </message>
    <message>
      <source>Recommended here: &lt;b&gt;{model}&lt;/b&gt; · {size} · {verdict}. {good_for}</source>
      <translation>Empfohlen für diesen Computer: &lt;b&gt;{model}&lt;/b&gt; · {size} · {verdict}. {good_for}</translation>
    </message>
    <message>
      <source>Search</source>
      <translation>Suchen</translation>
    </message>
    <message>
      <source>Search for a model above, or pick one of the starter models.</source>
      <translation>Suchen Sie oben nach einem Modell oder wählen Sie eines der Startmodelle.</translation>
    </message>
    <message>
      <source>Search models on Hugging Face</source>
      <translation>Modelle auf Hugging Face suchen</translation>
    </message>
    <message>
      <source>Search the models on Hugging Face, e.g. llama, qwen, mistral…</source>
      <translation>Modelle auf Hugging Face suchen, z. B. llama, qwen, mistral…</translation>
    </message>
    <message>
      <source>Searching Hugging Face…</source>
      <translation>Hugging Face wird durchsucht…</translation>
    </message>
    <message>
      <source>The search failed: {error}</source>
      <translation>Die Suche ist fehlgeschlagen: {error}</translation>
    </message>
    <message>
      <source>Trending</source>
      <translation>Im Trend</translation>
    </message>
    <message>
      <source>Try again</source>
      <translation>Erneut versuchen</translation>
    </message>
    <message>
      <source>Your organisation allows none of the starter models.</source>
      <translation>Ihre Organisation erlaubt keines der Startmodelle.</translation>
    </message>
    <message>
      <source>{model} could not be downloaded: {error}</source>
      <translation>{model} konnte nicht heruntergeladen werden: {error}</translation>
    </message>
  </context>
  <context>
    <name>discover_lists</name>
    <message>
      <source>Accept license first</source>
      <translation>Zuerst Lizenz akzeptieren</translation>
    </message>
    <message>
      <source>Access</source>
      <translation>Zugang</translation>
    </message>
    <message>
      <source>Author</source>
      <translation>Autor</translation>
    </message>
    <message>
      <source>Checking…</source>
      <translation>Wird geprüft…</translation>
    </message>
    <message>
      <source>Download</source>
      <translation>Herunterladen</translation>
    </message>
    <message>
      <source>Download {file} ({size})</source>
      <translation>{file} herunterladen ({size})</translation>
    </message>
    <message>
      <source>Downloads</source>
      <translation>Downloads</translation>
    </message>
    <message>
      <source>Good for</source>
      <translation>Geeignet für</translation>
    </message>
    <message>
      <source>License</source>
      <translation>Lizenz</translation>
    </message>
    <message>
      <source>Likes</source>
      <translation>Likes</translation>
    </message>
    <message>
      <source>Model</source>
      <translation>Modell</translation>
    </message>
    <message>
      <source>On this computer</source>
      <translation>Auf diesem Computer</translation>
    </message>
    <message>
      <source>Open</source>
      <translation>Öffnen</translation>
    </message>
    <message>
      <source>Recommended models</source>
      <translation>Empfohlene Modelle</translation>
    </message>
    <message>
      <source>Search results</source>
      <translation>Suchergebnisse</translation>
    </message>
    <message>
      <source>Size</source>
      <translation>Größe</translation>
    </message>
    <message>
      <source>Starter model</source>
      <translation>Startmodell</translation>
    </message>
    <message>
      <source>This computer's speed is not known.</source>
      <translation>Die Geschwindigkeit dieses Computers ist nicht bekannt.</translation>
    </message>
    <message>
      <source>Too large for this computer.</source>
      <translation>Zu groß für diesen Computer.</translation>
    </message>
    <message>
      <source>Unknown</source>
      <translation>Unbekannt</translation>
    </message>
    <message>
      <source>Updated</source>
      <translation>Aktualisiert</translation>
    </message>
    <message>
      <source>You must accept this model's license on Hugging Face first</source>
      <translation>Sie müssen zuerst die Lizenz dieses Modells auf Hugging Face akzeptieren</translation>
    </message>
    <message>
      <source>{model} — click to see its files</source>
      <translation>{model} – klicken, um die Dateien zu sehen</translation>
    </message>
    <message>
      <source>{model} — click to see its files and description</source>
      <translation>{model} – klicken, um Dateien und Beschreibung zu sehen</translation>
    </message>
  </context>
  <context>
    <name>documents</name>
    <message>
      <source>Could not save the settings: {error}</source>
      <translation>Die Einstellungen konnten nicht gespeichert werden: {error}</translation>
    </message>
    <message>
      <source>Documents</source>
      <translation>Dokumente</translation>
    </message>
    <message>
      <source>No collection yet.

Click “New collection…”, or drop a folder here.</source>
      <translation>Noch keine Sammlung.

Klicken Sie auf „Neue Sammlung…“ oder ziehen Sie einen Ordner hierher.</translation>
    </message>
    <message>
      <source>Put your files in a collection, then pick it in a conversation: the answers quote your documents and show where each fact comes from. Everything stays on this computer.</source>
      <translation>Legen Sie Ihre Dateien in eine Sammlung und wählen Sie diese dann in einer Unterhaltung aus: Die Antworten zitieren Ihre Dokumente und zeigen, woher jede Angabe stammt. Alles bleibt auf diesem Computer.</translation>
    </message>
    <message>
      <source>Your collections are being updated for the new embedding model.</source>
      <translation>Ihre Sammlungen werden für das neue Einbettungsmodell aktualisiert.</translation>
    </message>
  </context>
  <context>
    <name>documents_actions</name>
    <message>
      <source>Add a folder</source>
      <translation>Ordner hinzufügen</translation>
    </message>
    <message>
      <source>Add files</source>
      <translation>Dateien hinzufügen</translation>
    </message>
    <message>
      <source>Delete collection</source>
      <translation>Sammlung löschen</translation>
    </message>
    <message>
      <source>Delete the collection “{collection}”?

Your files stay where they are; only Enclave's index of them is removed.</source>
      <translation>Die Sammlung „{collection}“ löschen?

Ihre Dateien bleiben, wo sie sind; nur der Index, den Enclave dafür angelegt hat, wird entfernt.</translation>
    </message>
    <message>
      <source>Documents</source>
      <translation>Dokumente</translation>
    </message>
    <message>
      <source>Documents (*.pdf *.docx *.txt *.md *.markdown *.html *.htm *.csv);;All files (*)</source>
      <translation>Dokumente (*.pdf *.docx *.txt *.md *.markdown *.html *.htm *.csv);;Alle Dateien (*)</translation>
    </message>
    <message>
      <source>Name of the collection:</source>
      <translation>Name der Sammlung:</translation>
    </message>
    <message>
      <source>New collection</source>
      <translation>Neue Sammlung</translation>
    </message>
    <message>
      <source>New name:</source>
      <translation>Neuer Name:</translation>
    </message>
    <message>
      <source>Please wait until indexing ends (or cancel it) to rename.</source>
      <translation>Bitte warten Sie, bis die Indizierung abgeschlossen ist (oder brechen Sie sie ab), um umzubenennen.</translation>
    </message>
    <message>
      <source>Rename collection</source>
      <translation>Sammlung umbenennen</translation>
    </message>
  </context>
  <context>
    <name>documents_collections_pane</name>
    <message>
      <source>Collections</source>
      <translation>Sammlungen</translation>
    </message>
    <message>
      <source>Document collections</source>
      <translation>Dokumentsammlungen</translation>
    </message>
    <message>
      <source>New collection…</source>
      <translation>Neue Sammlung…</translation>
    </message>
    <message>
      <source>{collection}  ·  updating…</source>
      <translation>{collection}  ·  wird aktualisiert…</translation>
    </message>
  </context>
  <context>
    <name>documents_details</name>
    <message numerus="yes">
      <source>%n could not be read</source>
      <translation>
        <numerusform>%n konnte nicht gelesen werden</numerusform>
        <numerusform>%n konnten nicht gelesen werden</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n documents indexed</source>
      <translation>
        <numerusform>%n Dokument indexiert</numerusform>
        <numerusform>%n Dokumente indexiert</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n passages</source>
      <translation>
        <numerusform>%n Textstelle</numerusform>
        <numerusform>%n Textstellen</numerusform>
      </translation>
    </message>
    <message>
      <source>Add files…</source>
      <translation>Dateien hinzufügen…</translation>
    </message>
    <message>
      <source>Add folder…</source>
      <translation>Ordner hinzufügen…</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>Abbrechen</translation>
    </message>
    <message>
      <source>Delete…</source>
      <translation>Löschen…</translation>
    </message>
    <message>
      <source>Empty: add files or folders to this collection.</source>
      <translation>Leer: Fügen Sie dieser Sammlung Dateien oder Ordner hinzu.</translation>
    </message>
    <message>
      <source>Indexing was stopped before the end</source>
      <translation>Die Indizierung wurde vor dem Ende angehalten</translation>
    </message>
    <message>
      <source>Preparing search: {done} of {total} passages</source>
      <translation>Suche wird vorbereitet: {done} von {total} Textstellen</translation>
    </message>
    <message>
      <source>Read again the files that changed since the last time</source>
      <translation>Dateien erneut lesen, die sich seit dem letzten Mal geändert haben</translation>
    </message>
    <message>
      <source>Reading files: {done} of {total}</source>
      <translation>Dateien werden gelesen: {done} von {total}</translation>
    </message>
    <message>
      <source>Remove from collection</source>
      <translation>Aus der Sammlung entfernen</translation>
    </message>
    <message>
      <source>Rename…</source>
      <translation>Umbenennen…</translation>
    </message>
    <message>
      <source>Resume indexing</source>
      <translation>Indizierung fortsetzen</translation>
    </message>
    <message>
      <source>Tip: drag files or folders from your file manager onto this page.</source>
      <translation>Tipp: Ziehen Sie Dateien oder Ordner aus Ihrem Dateimanager auf diese Seite.</translation>
    </message>
    <message>
      <source>Update now</source>
      <translation>Jetzt aktualisieren</translation>
    </message>
    <message>
      <source>Updating search for the new model: {done} of {total} passages</source>
      <translation>Die Suche wird für das neue Modell vorbereitet: {done} von {total} Abschnitten</translation>
    </message>
    <message>
      <source>about {hours} h left</source>
      <translation>noch etwa {hours} h</translation>
    </message>
    <message>
      <source>about {minutes} min left</source>
      <translation>noch etwa {minutes} min</translation>
    </message>
    <message>
      <source>about {seconds} s left</source>
      <translation>noch etwa {seconds} s</translation>
    </message>
  </context>
  <context>
    <name>documents_embedding_bar</name>
    <message>
      <source>Choose an embedding model</source>
      <translation>Einbettungsmodell wählen</translation>
    </message>
    <message>
      <source>Choose model…</source>
      <translation>Modell wählen…</translation>
    </message>
    <message>
      <source>GGUF models (*.gguf)</source>
      <translation>GGUF-Modelle (*.gguf)</translation>
    </message>
    <message>
      <source>No embedding model at {path}: keyword search (BM25) only.</source>
      <translation>Kein Einbettungsmodell unter {path}: nur Stichwortsuche (BM25).</translation>
    </message>
    <message>
      <source>Search by meaning is off: its model file is missing ({file}). Search finds exact words only (keyword search).</source>
      <translation>Die Suche nach Bedeutung ist aus: Die Modelldatei dafür fehlt ({file}). Die Suche findet nur genau die eingegebenen Wörter (Stichwortsuche).</translation>
    </message>
    <message>
      <source>Search by meaning uses the built-in model {model} (an embedding model), and keywords: {path}</source>
      <translation>Die Suche nach Bedeutung verwendet das integrierte Modell {model} (ein Einbettungsmodell) und Stichwörter: {path}</translation>
    </message>
    <message>
      <source>Search by meaning uses your model {model} (an embedding model), and keywords: {path}</source>
      <translation>Die Suche nach Bedeutung verwendet Ihr Modell {model} (ein Einbettungsmodell) und Stichwörter: {path}</translation>
    </message>
    <message>
      <source>Search finds what you ask about by its meaning, not only by the exact words.</source>
      <translation>Die Suche findet, wonach Sie fragen, anhand der Bedeutung – nicht nur anhand der genauen Wörter.</translation>
    </message>
    <message>
      <source>Use built-in</source>
      <translation>Integriertes verwenden</translation>
    </message>
  </context>
  <context>
    <name>documents_files</name>
    <message numerus="yes">
      <source>%n could not be read</source>
      <translation>
        <numerusform>%n konnte nicht gelesen werden</numerusform>
        <numerusform>%n konnten nicht gelesen werden</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n indexed</source>
      <translation>
        <numerusform>%n indexiert</numerusform>
        <numerusform>%n indexiert</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n pages</source>
      <translation>
        <numerusform>%n Seite</numerusform>
        <numerusform>%n Seiten</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n partly indexed</source>
      <translation>
        <numerusform>%n teilweise indexiert</numerusform>
        <numerusform>%n teilweise indexiert</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n passages</source>
      <translation>
        <numerusform>%n Textstelle</numerusform>
        <numerusform>%n Textstellen</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n skipped</source>
      <translation>
        <numerusform>%n übersprungen</numerusform>
        <numerusform>%n übersprungen</numerusform>
      </translation>
    </message>
    <message>
      <source>Could not read</source>
      <translation>Nicht lesbar</translation>
    </message>
    <message>
      <source>Details</source>
      <translation>Details</translation>
    </message>
    <message>
      <source>Folder</source>
      <translation>Ordner</translation>
    </message>
    <message>
      <source>Indexed</source>
      <translation>Indexiert</translation>
    </message>
    <message>
      <source>Name</source>
      <translation>Name</translation>
    </message>
    <message>
      <source>Not found (moved, deleted or unplugged?)</source>
      <translation>Nicht gefunden (verschoben, gelöscht oder Laufwerk getrennt?)</translation>
    </message>
    <message>
      <source>Not indexed yet</source>
      <translation>Noch nicht indexiert</translation>
    </message>
    <message>
      <source>Partly indexed</source>
      <translation>Teilweise indexiert</translation>
    </message>
    <message>
      <source>Skipped</source>
      <translation>Übersprungen</translation>
    </message>
    <message>
      <source>Status</source>
      <translation>Status</translation>
    </message>
  </context>
  <context>
    <name>documents_indexing</name>
    <message>
      <source>the embedding model is missing ({file})</source>
      <translation>das Einbettungsmodell fehlt ({file})</translation>
    </message>
    <message>
      <source>the engine is not available</source>
      <translation>die Engine ist nicht verfügbar</translation>
    </message>
    <message>
      <source>{file} could not be loaded</source>
      <translation>{file} konnte nicht geladen werden</translation>
    </message>
  </context>
  <context>
    <name>documents_indexing_feedback</name>
    <message>
      <source>Indexing failed: {reason}</source>
      <translation>Indizierung fehlgeschlagen: {reason}</translation>
    </message>
    <message>
      <source>Indexing stopped. What was read so far is kept and already searchable; click “Resume indexing” to go on.</source>
      <translation>Indizierung angehalten. Was bisher gelesen wurde, bleibt erhalten und ist schon durchsuchbar; klicken Sie auf „Indizierung fortsetzen“, um weiterzumachen.</translation>
    </message>
  </context>
  <context>
    <name>documents_model_offer</name>
    <message>
      <source>Downloading the multilingual model… {percent} %</source>
      <translation>Das mehrsprachige Modell wird heruntergeladen … {percent} %</translation>
    </message>
    <message>
      <source>Downloads are not available here.</source>
      <translation>Herunterladen ist hier nicht möglich.</translation>
    </message>
    <message>
      <source>Get the multilingual model ({size})</source>
      <translation>Mehrsprachiges Modell laden ({size})</translation>
    </message>
    <message>
      <source>Most of this collection is not in English. Search by meaning works better with the multilingual model ({languages}).</source>
      <translation>Diese Sammlung ist größtenteils nicht auf Englisch. Die Suche nach Bedeutung funktioniert mit dem mehrsprachigen Modell besser ({languages}).</translation>
    </message>
    <message>
      <source>The multilingual model could not be downloaded: {error}</source>
      <translation>Das mehrsprachige Modell konnte nicht heruntergeladen werden: {error}</translation>
    </message>
    <message>
      <source>Use the multilingual model</source>
      <translation>Mehrsprachiges Modell verwenden</translation>
    </message>
    <message>
      <source>{model}: {languages}, {size} download</source>
      <translation>{model}: {languages}, {size} zum Herunterladen</translation>
    </message>
  </context>
  <context>
    <name>downloads_panel</name>
    <message>
      <source>Cancel</source>
      <translation>Abbrechen</translation>
    </message>
    <message>
      <source>Cancelled</source>
      <translation>Abgebrochen</translation>
    </message>
    <message>
      <source>Checking the file…</source>
      <translation>Datei wird geprüft…</translation>
    </message>
    <message>
      <source>Connection problem; trying again</source>
      <translation>Verbindungsproblem; neuer Versuch</translation>
    </message>
    <message>
      <source>Downloaded — it is in your Library</source>
      <translation>Heruntergeladen – jetzt in Ihrer Bibliothek</translation>
    </message>
    <message>
      <source>Downloading…</source>
      <translation>Wird heruntergeladen…</translation>
    </message>
    <message>
      <source>Downloads</source>
      <translation>Downloads</translation>
    </message>
    <message>
      <source>Open Library</source>
      <translation>Bibliothek öffnen</translation>
    </message>
    <message>
      <source>Pause</source>
      <translation>Anhalten</translation>
    </message>
    <message>
      <source>Paused</source>
      <translation>Angehalten</translation>
    </message>
    <message>
      <source>Quality: {quality}</source>
      <translation>Qualität: {quality}</translation>
    </message>
    <message>
      <source>Remove from list</source>
      <translation>Aus der Liste entfernen</translation>
    </message>
    <message>
      <source>Resume</source>
      <translation>Fortsetzen</translation>
    </message>
    <message>
      <source>Starting…</source>
      <translation>Wird gestartet…</translation>
    </message>
    <message>
      <source>The download failed.</source>
      <translation>Der Download ist fehlgeschlagen.</translation>
    </message>
    <message>
      <source>Try again</source>
      <translation>Erneut versuchen</translation>
    </message>
    <message>
      <source>Waiting to start</source>
      <translation>Wartet auf Start</translation>
    </message>
    <message>
      <source>Waiting. {reason}</source>
      <translation>Wartet. {reason}</translation>
    </message>
    <message>
      <source>Waiting: offline mode is on (turn it off in Settings to download)</source>
      <translation>Wartet: Der Offline-Modus ist aktiv (schalten Sie ihn in den Einstellungen aus, um herunterzuladen)</translation>
    </message>
    <message>
      <source>{done} of {total}</source>
      <translation>{done} von {total}</translation>
    </message>
    <message>
      <source>{file}
from {publisher}</source>
      <translation>{file}
von {publisher}</translation>
    </message>
    <message>
      <source>{size}/s</source>
      <translation>{size}/s</translation>
    </message>
  </context>
  <context>
    <name>draft_model</name>
    <message>
      <source>The draft model {name} could not be loaded, so answers come without it.</source>
      <translation>Das Entwurfsmodell {name} konnte nicht geladen werden, die Antworten kommen daher ohne es.</translation>
    </message>
    <message>
      <source>The draft model {name} does not share this model's vocabulary, so answers come without it.</source>
      <translation>Das Entwurfsmodell {name} hat nicht das Vokabular dieses Modells, die Antworten kommen daher ohne es.</translation>
    </message>
  </context>
  <context>
    <name>embedding_models</name>
    <message>
      <source>English</source>
      <translation>Englisch</translation>
    </message>
    <message>
      <source>about 100 languages</source>
      <translation>etwa 100 Sprachen</translation>
    </message>
    <message>
      <source>more than 100 languages</source>
      <translation>mehr als 100 Sprachen</translation>
    </message>
  </context>
  <context>
    <name>errors</name>
    <message>
      <source>Could not reach Hugging Face. Check your internet connection and try again.</source>
      <translation>Hugging Face ist nicht erreichbar. Prüfen Sie Ihre Internetverbindung und versuchen Sie es erneut.</translation>
    </message>
    <message>
      <source>Could not reach Hugging Face. Check your internet connection and try again. ({detail})</source>
      <translation>Hugging Face ist nicht erreichbar. Prüfen Sie Ihre Internetverbindung und versuchen Sie es erneut. ({detail})</translation>
    </message>
    <message>
      <source>Download cancelled.</source>
      <translation>Download abgebrochen.</translation>
    </message>
    <message>
      <source>Download paused.</source>
      <translation>Download angehalten.</translation>
    </message>
    <message>
      <source>Download waiting: Enclave is offline.</source>
      <translation>Download wartet: Enclave ist offline.</translation>
    </message>
    <message>
      <source>Enclave cannot reach Hugging Face. Check your internet connection, or turn on offline mode in Settings to work with the models already on this computer.</source>
      <translation>Enclave erreicht Hugging Face nicht. Prüfen Sie Ihre Internetverbindung oder schalten Sie in den Einstellungen den Offline-Modus ein, um mit den Modellen zu arbeiten, die bereits auf diesem Computer sind.</translation>
    </message>
    <message>
      <source>Enclave connected through the proxy {proxy}, but could not trust the security certificate it was shown for {host}: {why}. Your company's proxy probably inspects secure connections; ask your IT department to add the company certificate to this computer's certificate store, then try again.</source>
      <translation>Enclave hat sich über den Proxy {proxy} verbunden, konnte dem Sicherheitszertifikat, das dabei für {host} vorgelegt wurde, aber nicht vertrauen: {why}. Der Proxy Ihrer Firma prüft vermutlich sichere Verbindungen; bitten Sie Ihre IT-Abteilung, das Firmenzertifikat zum Zertifikatspeicher dieses Computers hinzuzufügen, und versuchen Sie es dann erneut.</translation>
    </message>
    <message>
      <source>Enclave could not connect to the proxy {proxy} that this computer is set to use. Check the proxy settings, or ask your IT department, then try again.</source>
      <translation>Enclave konnte keine Verbindung zum Proxy {proxy} herstellen, den dieser Computer verwenden soll. Prüfen Sie die Proxy-Einstellungen oder fragen Sie Ihre IT-Abteilung, und versuchen Sie es dann erneut.</translation>
    </message>
    <message>
      <source>Enclave could not trust the security certificate of {host}: {why}. If your company inspects secure connections, ask your IT department to add the company certificate to this computer's certificate store, then try again.</source>
      <translation>Enclave konnte dem Sicherheitszertifikat von {host} nicht vertrauen: {why}. Wenn Ihre Firma sichere Verbindungen prüft, bitten Sie Ihre IT-Abteilung, das Firmenzertifikat zum Zertifikatspeicher dieses Computers hinzuzufügen, und versuchen Sie es dann erneut.</translation>
    </message>
    <message>
      <source>Not enough disk space: this model needs {needed} but only {free} is free in {folder}. Free some space or choose another models folder in Settings.</source>
      <translation>Nicht genug Speicherplatz: Dieses Modell braucht {needed}, aber in {folder} sind nur {free} frei. Geben Sie Speicherplatz frei oder wählen Sie in den Einstellungen einen anderen Modellordner.</translation>
    </message>
    <message>
      <source>Offline mode is on for this computer (HF_HUB_OFFLINE is set), so Enclave does not connect to the internet. The models already on this computer work as usual.</source>
      <translation>Der Offline-Modus ist für diesen Computer aktiv (HF_HUB_OFFLINE ist gesetzt), daher verbindet sich Enclave nicht mit dem Internet. Die Modelle, die bereits auf diesem Computer sind, funktionieren wie gewohnt.</translation>
    </message>
    <message>
      <source>Offline mode is on, so Enclave does not connect to the internet. Turn it off in Settings to search or download models.</source>
      <translation>Der Offline-Modus ist aktiv, daher verbindet sich Enclave nicht mit dem Internet. Schalten Sie ihn in den Einstellungen aus, um Modelle zu suchen oder herunterzuladen.</translation>
    </message>
    <message>
      <source>Refused to save {name}: that name would put the file outside the models folder.</source>
      <translation>{name} wurde nicht gespeichert: Mit diesem Namen läge die Datei außerhalb des Modellordners.</translation>
    </message>
    <message>
      <source>The disk is full: the model could not be written to {folder}. What was downloaded so far is kept; free some space, then resume the download.</source>
      <translation>Das Laufwerk ist voll: Das Modell konnte nicht in {folder} gespeichert werden. Was bisher heruntergeladen wurde, bleibt erhalten; geben Sie Speicherplatz frei und setzen Sie den Download dann fort.</translation>
    </message>
    <message>
      <source>The downloaded file {file} is damaged: its checksum does not match the one Hugging Face published. It was deleted and not added to your models; please download it again.</source>
      <translation>Die heruntergeladene Datei {file} ist beschädigt: Ihre Prüfsumme stimmt nicht mit der überein, die Hugging Face veröffentlicht hat. Sie wurde gelöscht und nicht zu Ihren Modellen hinzugefügt; bitte laden Sie sie erneut herunter.</translation>
    </message>
    <message>
      <source>The proxy {proxy} asks for a user name and password that Enclave does not have. Ask your IT department, or put them into the proxy address (HTTPS_PROXY=http://name:password@host:port), then try again.</source>
      <translation>Der Proxy {proxy} verlangt einen Benutzernamen und ein Passwort, die Enclave nicht kennt. Fragen Sie Ihre IT-Abteilung oder tragen Sie beides in die Proxy-Adresse ein (HTTPS_PROXY=http://name:password@host:port), und versuchen Sie es dann erneut.</translation>
    </message>
    <message>
      <source>The proxy {proxy} refused the connection to {host} (it answered {status}). Ask your IT department whether Hugging Face may be reached through it.</source>
      <translation>Der Proxy {proxy} hat die Verbindung zu {host} abgelehnt (Antwort: {status}). Fragen Sie Ihre IT-Abteilung, ob Hugging Face darüber erreichbar sein darf.</translation>
    </message>
    <message>
      <source>Your organisation has set Enclave to work offline, so it does not connect to the internet. The models already on this computer work as usual.</source>
      <translation>Ihre Organisation hat Enclave auf Offline-Betrieb eingestellt, daher verbindet es sich nicht mit dem Internet. Die Modelle, die bereits auf diesem Computer sind, funktionieren wie gewohnt.</translation>
    </message>
    <message>
      <source>Your organisation has switched model downloads off in Enclave. Ask your IT department for the model you need.</source>
      <translation>Ihre Organisation hat Modell-Downloads in Enclave ausgeschaltet. Fragen Sie Ihre IT-Abteilung nach dem Modell, das Sie brauchen.</translation>
    </message>
  </context>
  <context>
    <name>export</name>
    <message>
      <source>## System prompt</source>
      <translation>## Anweisungen an das Modell</translation>
    </message>
    <message numerus="yes">
      <source>%n tokens</source>
      <translation>
        <numerusform>%n Token</numerusform>
        <numerusform>%n Tokens</numerusform>
      </translation>
    </message>
    <message>
      <source>*(empty)*</source>
      <translation>*(leer)*</translation>
    </message>
    <message>
      <source>- Model: {file}</source>
      <translation>- Modell: {file}</translation>
    </message>
    <message>
      <source>- Started: {when}</source>
      <translation>- Begonnen: {when}</translation>
    </message>
    <message>
      <source>Assistant</source>
      <translation>Assistent</translation>
    </message>
    <message>
      <source>Conversation</source>
      <translation>Unterhaltung</translation>
    </message>
    <message>
      <source>Could not read {file}: {reason}.</source>
      <translation>{file} konnte nicht gelesen werden: {reason}.</translation>
    </message>
    <message>
      <source>Imported chat</source>
      <translation>Importierte Unterhaltung</translation>
    </message>
    <message>
      <source>Message {number} has an unknown status {status}.</source>
      <translation>Nachricht {number} hat einen unbekannten Status {status}.</translation>
    </message>
    <message>
      <source>Message {number} has no text content.</source>
      <translation>Nachricht {number} hat keinen Textinhalt.</translation>
    </message>
    <message>
      <source>Message {number} has no “id” of its own.</source>
      <translation>Nachricht {number} hat keine eigene „id“.</translation>
    </message>
    <message>
      <source>Message {number} has the role {role}; expected user, assistant or system.</source>
      <translation>Nachricht {number} hat die Rolle {role}; erwartet wird user, assistant oder system.</translation>
    </message>
    <message>
      <source>Message {number} is not an object with a role and content.</source>
      <translation>Nachricht {number} ist kein Objekt mit Rolle und Inhalt.</translation>
    </message>
    <message>
      <source>Message {number}: its “parent” is not a message before it.</source>
      <translation>Nachricht {number}: Ihr „parent“ verweist nicht auf eine frühere Nachricht.</translation>
    </message>
    <message>
      <source>Message {number}: “created_at” should be a number of seconds.</source>
      <translation>Nachricht {number}: „created_at“ sollte eine Anzahl von Sekunden sein.</translation>
    </message>
    <message>
      <source>Message {number}: “stats” should be an object.</source>
      <translation>Nachricht {number}: „stats“ sollte ein Objekt sein.</translation>
    </message>
    <message>
      <source>New chat</source>
      <translation>Neue Unterhaltung</translation>
    </message>
    <message>
      <source>System</source>
      <translation>System</translation>
    </message>
    <message>
      <source>The file has no list of messages.</source>
      <translation>Die Datei enthält keine Liste von Nachrichten.</translation>
    </message>
    <message>
      <source>The file has too many messages ({count}).</source>
      <translation>Die Datei enthält zu viele Nachrichten ({count}).</translation>
    </message>
    <message>
      <source>The file: “current” is not one of its messages.</source>
      <translation>Die Datei: „current“ ist keine ihrer Nachrichten.</translation>
    </message>
    <message>
      <source>The file: “settings” should be an object.</source>
      <translation>Die Datei: „settings“ sollte ein Objekt sein.</translation>
    </message>
    <message>
      <source>The file: “{key}” should be text.</source>
      <translation>Die Datei: „{key}“ sollte Text sein.</translation>
    </message>
    <message>
      <source>There is no conversation {number}.</source>
      <translation>Es gibt keine Unterhaltung {number}.</translation>
    </message>
    <message>
      <source>This conversation file has no version number.</source>
      <translation>Diese Unterhaltungsdatei hat keine Versionsnummer.</translation>
    </message>
    <message>
      <source>This conversation was saved by a newer Enclave (format version {version}); update Enclave to open it.</source>
      <translation>Diese Unterhaltung wurde mit einer neueren Version von Enclave gespeichert (Formatversion {version}); aktualisieren Sie Enclave, um sie zu öffnen.</translation>
    </message>
    <message>
      <source>This file is not an Enclave conversation (expected a JSON object).</source>
      <translation>Diese Datei ist keine Enclave-Unterhaltung (erwartet wurde ein JSON-Objekt).</translation>
    </message>
    <message>
      <source>This file is not an Enclave conversation (its “format” is missing or different).</source>
      <translation>Diese Datei ist keine Enclave-Unterhaltung (ihr „format“ fehlt oder ist ein anderes).</translation>
    </message>
    <message>
      <source>Unknown conversation format version {version}.</source>
      <translation>Unbekannte Formatversion {version} der Unterhaltung.</translation>
    </message>
    <message>
      <source>You</source>
      <translation>Sie</translation>
    </message>
    <message>
      <source>failed</source>
      <translation>fehlgeschlagen</translation>
    </message>
    <message>
      <source>first token {milliseconds} ms</source>
      <translation>erstes Token nach {milliseconds} ms</translation>
    </message>
    <message>
      <source>interrupted</source>
      <translation>unterbrochen</translation>
    </message>
    <message>
      <source>still being written</source>
      <translation>wird noch geschrieben</translation>
    </message>
    <message>
      <source>stopped by the user</source>
      <translation>vom Benutzer gestoppt</translation>
    </message>
    <message>
      <source>{file} is not a JSON file.</source>
      <translation>{file} ist keine JSON-Datei.</translation>
    </message>
    <message>
      <source>{rate} tokens/s</source>
      <translation>{rate} Tokens/s</translation>
    </message>
  </context>
  <context>
    <name>extract</name>
    <message numerus="yes">
      <source>%n scanned pages read with OCR (text recognition can misread words)</source>
      <translation>
        <numerusform>%n gescannte Seite mit OCR gelesen (die Texterkennung kann Wörter falsch lesen)</numerusform>
        <numerusform>%n gescannte Seiten mit OCR gelesen (die Texterkennung kann Wörter falsch lesen)</numerusform>
      </translation>
    </message>
    <message>
      <source>1 scanned page read with OCR (text recognition can misread words)</source>
      <translation>1 gescannte Seite mit OCR gelesen (die Texterkennung kann Wörter falsch lesen)</translation>
    </message>
    <message>
      <source>OpenDocument presentation</source>
      <translation>OpenDocument-Präsentation</translation>
    </message>
    <message>
      <source>OpenDocument spreadsheet</source>
      <translation>OpenDocument-Tabelle</translation>
    </message>
    <message>
      <source>OpenDocument text</source>
      <translation>OpenDocument-Text</translation>
    </message>
    <message>
      <source>Outlook message</source>
      <translation>Outlook-Nachricht</translation>
    </message>
    <message>
      <source>cannot read the file ({reason})</source>
      <translation>die Datei kann nicht gelesen werden ({reason})</translation>
    </message>
    <message>
      <source>e-mail</source>
      <translation>E-Mail</translation>
    </message>
    <message>
      <source>it could not be opened</source>
      <translation>sie konnte nicht geöffnet werden</translation>
    </message>
    <message>
      <source>no extension</source>
      <translation>keine Dateiendung</translation>
    </message>
    <message>
      <source>no readable text found, not even in the scanned pages</source>
      <translation>kein lesbarer Text gefunden, auch nicht in den gescannten Seiten</translation>
    </message>
    <message>
      <source>no text found</source>
      <translation>kein Text gefunden</translation>
    </message>
    <message>
      <source>no text found (a scanned PDF: turn on reading scanned pages in Settings)</source>
      <translation>kein Text gefunden (ein gescanntes PDF: Schalten Sie in den Einstellungen das Lesen gescannter Seiten ein)</translation>
    </message>
    <message>
      <source>only the first {count} characters are searchable (the file is longer)</source>
      <translation>nur die ersten {count} Zeichen sind durchsuchbar (die Datei ist länger)</translation>
    </message>
    <message>
      <source>only the first {shown} of {total} chapters are searchable</source>
      <translation>nur die ersten {shown} von {total} Kapiteln sind durchsuchbar</translation>
    </message>
    <message>
      <source>only the first {shown} of {total} pages are searchable</source>
      <translation>nur die ersten {shown} von {total} Seiten sind durchsuchbar</translation>
    </message>
    <message>
      <source>only the first {shown} of {total} slides are searchable</source>
      <translation>nur die ersten {shown} von {total} Folien sind durchsuchbar</translation>
    </message>
    <message>
      <source>picture</source>
      <translation>Bild</translation>
    </message>
    <message>
      <source>reading scanned page {page} of {pages} with OCR</source>
      <translation>gescannte Seite {page} von {pages} wird mit OCR gelesen</translation>
    </message>
    <message>
      <source>reading stopped after {seconds} seconds; only the part read by then is searchable</source>
      <translation>das Lesen wurde nach {seconds} Sekunden beendet; nur der bis dahin gelesene Teil ist durchsuchbar</translation>
    </message>
    <message>
      <source>text</source>
      <translation>Text</translation>
    </message>
    <message>
      <source>the PDF is password-protected</source>
      <translation>das PDF ist passwortgeschützt</translation>
    </message>
    <message>
      <source>the PDF uses an unsupported protection</source>
      <translation>das PDF verwendet einen nicht unterstützten Schutz</translation>
    </message>
    <message>
      <source>the file is empty</source>
      <translation>die Datei ist leer</translation>
    </message>
    <message>
      <source>the {format} file is nested too deeply to read</source>
      <translation>die {format}-Datei ist zu tief verschachtelt, um sie zu lesen</translation>
    </message>
    <message>
      <source>the {format} file looks damaged</source>
      <translation>die {format}-Datei scheint beschädigt zu sein</translation>
    </message>
    <message>
      <source>the {format} file needs too much memory to read</source>
      <translation>die {format}-Datei braucht zum Lesen zu viel Arbeitsspeicher</translation>
    </message>
    <message>
      <source>too large ({size} MB; the limit is {limit} MB)</source>
      <translation>zu groß ({size} MB; die Grenze liegt bei {limit} MB)</translation>
    </message>
    <message>
      <source>unsupported format</source>
      <translation>nicht unterstütztes Format</translation>
    </message>
    <message>
      <source>unsupported format ({extension})</source>
      <translation>nicht unterstütztes Format ({extension})</translation>
    </message>
  </context>
  <context>
    <name>fit</name>
    <message>
      <source>Enclave could not tell whether this model fits this computer.</source>
      <translation>Enclave konnte nicht feststellen, ob dieses Modell zu diesem Computer passt.</translation>
    </message>
  </context>
  <context>
    <name>gguf_facts</name>
    <message>
      <source>Enclave is not allowed to read {file}.</source>
      <translation>Enclave darf {file} nicht lesen.</translation>
    </message>
    <message>
      <source>The file {file} could not be read ({reason}).</source>
      <translation>Die Datei {file} konnte nicht gelesen werden ({reason}).</translation>
    </message>
    <message>
      <source>The file {file} does not exist.</source>
      <translation>Die Datei {file} existiert nicht.</translation>
    </message>
    <message>
      <source>This GGUF file does not say which model architecture it holds.</source>
      <translation>Diese GGUF-Datei gibt nicht an, welche Modellarchitektur sie enthält.</translation>
    </message>
    <message>
      <source>This GGUF file uses format version {version}, which Enclave cannot read (it may be damaged, or made for a much newer or older program).</source>
      <translation>Diese GGUF-Datei verwendet die Formatversion {version}, die Enclave nicht lesen kann (sie ist möglicherweise beschädigt oder für ein viel neueres oder älteres Programm gemacht).</translation>
    </message>
    <message>
      <source>This file is empty; it is not a GGUF model.</source>
      <translation>Diese Datei ist leer; sie ist kein GGUF-Modell.</translation>
    </message>
    <message>
      <source>This file is not a GGUF model.</source>
      <translation>Diese Datei ist kein GGUF-Modell.</translation>
    </message>
    <message>
      <source>This model file asks for a way of pooling embeddings (number {pooling}) that the engine does not know; it is damaged or made for a newer engine.</source>
      <translation>Diese Modelldatei verlangt eine Art, Einbettungen zusammenzufassen (Nummer {pooling}), die die Engine nicht kennt; sie ist beschädigt oder für eine neuere Engine gemacht.</translation>
    </message>
    <message>
      <source>This model file is damaged or empty: it holds no weights.</source>
      <translation>Diese Modelldatei ist beschädigt oder leer: Sie enthält keine Gewichte.</translation>
    </message>
    <message>
      <source>This model file is damaged: it does not say how many layers the model has.</source>
      <translation>Diese Modelldatei ist beschädigt: Sie gibt nicht an, wie viele Schichten das Modell hat.</translation>
    </message>
    <message>
      <source>This model file is damaged: it says the model has {layers} layers.</source>
      <translation>Diese Modelldatei ist beschädigt: Laut der Datei hat das Modell {layers} Schichten.</translation>
    </message>
    <message>
      <source>This model file is damaged: it says the model reads {tokens} tokens at once.</source>
      <translation>Diese Modelldatei ist beschädigt: Laut der Datei liest das Modell {tokens} Tokens auf einmal.</translation>
    </message>
    <message>
      <source>This model file is damaged: its description holds values that make no sense.</source>
      <translation>Diese Modelldatei ist beschädigt: Ihre Beschreibung enthält unsinnige Werte.</translation>
    </message>
    <message>
      <source>This model file is damaged: its header announces more entries than the file can hold.</source>
      <translation>Diese Modelldatei ist beschädigt: Ihr Kopfteil kündigt mehr Einträge an, als die Datei fassen kann.</translation>
    </message>
    <message>
      <source>This model file is damaged: its list of tensors points far past the end of the file.</source>
      <translation>Diese Modelldatei ist beschädigt: Ihre Tensorliste verweist weit über das Dateiende hinaus.</translation>
    </message>
    <message>
      <source>This model file is damaged: its {what} is negative.</source>
      <translation>Diese Modelldatei ist beschädigt: Der Wert „{what}“ ist negativ.</translation>
    </message>
    <message>
      <source>This model file is damaged: one of its normalisation settings is not a valid number.</source>
      <translation>Diese Modelldatei ist beschädigt: Eine ihrer Normalisierungseinstellungen ist keine gültige Zahl.</translation>
    </message>
    <message>
      <source>This model file is incomplete (truncated) or damaged: its header could not be read.</source>
      <translation>Diese Modelldatei ist unvollständig (abgeschnitten) oder beschädigt: Ihr Kopfteil konnte nicht gelesen werden.</translation>
    </message>
    <message>
      <source>This model file is incomplete (truncated): it has {have} of the {need} it needs. Download it again.</source>
      <translation>Diese Modelldatei ist unvollständig (abgeschnitten): Sie umfasst nur {have} der nötigen {need}. Laden Sie sie erneut herunter.</translation>
    </message>
    <message>
      <source>This model file is incomplete (truncated): it stops in its first bytes.</source>
      <translation>Diese Modelldatei ist unvollständig (abgeschnitten): Sie endet schon in den ersten Bytes.</translation>
    </message>
    <message>
      <source>This model file is incomplete (truncated): it stops inside its header. Download it again.</source>
      <translation>Diese Modelldatei ist unvollständig (abgeschnitten): Sie endet mitten im Kopfteil. Laden Sie sie erneut herunter.</translation>
    </message>
    <message>
      <source>context length</source>
      <translation>Kontextlänge</translation>
    </message>
    <message>
      <source>embedding size</source>
      <translation>Einbettungsgröße</translation>
    </message>
    <message>
      <source>feed-forward size</source>
      <translation>Feed-Forward-Größe</translation>
    </message>
    <message>
      <source>input/output error</source>
      <translation>Ein-/Ausgabefehler</translation>
    </message>
    <message>
      <source>key length</source>
      <translation>Schlüssellänge</translation>
    </message>
    <message>
      <source>number of attention heads</source>
      <translation>Anzahl der Attention-Heads</translation>
    </message>
    <message>
      <source>number of key/value heads</source>
      <translation>Anzahl der Key/Value-Heads</translation>
    </message>
    <message>
      <source>sliding window</source>
      <translation>Gleitendes Fenster</translation>
    </message>
    <message>
      <source>value length</source>
      <translation>Wertlänge</translation>
    </message>
    <message>
      <source>vocabulary size</source>
      <translation>Vokabulargröße</translation>
    </message>
    <message>
      <source>{count} bytes</source>
      <translation>{count} Bytes</translation>
    </message>
    <message>
      <source>{file} is a folder, not a model file.</source>
      <translation>{file} ist ein Ordner, keine Modelldatei.</translation>
    </message>
    <message>
      <source>{size} GB</source>
      <translation>{size} GB</translation>
    </message>
    <message>
      <source>{size} KB</source>
      <translation>{size} KB</translation>
    </message>
    <message>
      <source>{size} MB</source>
      <translation>{size} MB</translation>
    </message>
  </context>
  <context>
    <name>gpu_setting</name>
    <message>
      <source>Automatic</source>
      <translation>Automatisch</translation>
    </message>
    <message>
      <source>Automatic puts a model on the one graphics card that holds it, or shares it between all of them when none does. Applies the next time a model loads.</source>
      <translation>Automatisch legt ein Modell auf die eine Grafikkarte, auf die es passt, oder verteilt es auf alle, wenn es auf keine allein passt. Gilt ab dem nächsten Laden eines Modells.</translation>
    </message>
    <message>
      <source>Graphics card the models run on</source>
      <translation>Grafikkarte, auf der die Modelle laufen</translation>
    </message>
    <message>
      <source>Graphics card:</source>
      <translation>Grafikkarte:</translation>
    </message>
    <message>
      <source>{name} ({free} GB free)</source>
      <translation>{name} ({free} GB frei)</translation>
    </message>
  </context>
  <context>
    <name>guards</name>
    <message>
      <source>the document is password-protected</source>
      <translation>das Dokument ist passwortgeschützt</translation>
    </message>
    <message>
      <source>the {format} file holds {parts} parts (the limit is {limit}); it may be built to overload the computer</source>
      <translation>die {format}-Datei enthält {parts} Teile (die Grenze liegt bei {limit}); sie ist möglicherweise darauf angelegt, den Computer zu überlasten</translation>
    </message>
    <message>
      <source>the {format} file would unpack to {unpacked} from {packed} (a 'zip bomb'); not opened</source>
      <translation>die {format}-Datei würde sich von {packed} auf {unpacked} entpacken (eine „Zip-Bombe“); nicht geöffnet</translation>
    </message>
    <message>
      <source>the {format} file would unpack to {unpacked}; the limit is {limit}</source>
      <translation>die {format}-Datei wäre entpackt {unpacked} groß; die Grenze liegt bei {limit}</translation>
    </message>
    <message>
      <source>{size} GB</source>
      <translation>{size} GB</translation>
    </message>
    <message>
      <source>{size} KB</source>
      <translation>{size} KB</translation>
    </message>
    <message>
      <source>{size} MB</source>
      <translation>{size} MB</translation>
    </message>
  </context>
  <context>
    <name>hardware</name>
    <message>
      <source>Could not read the NVIDIA GPU ({reason}); models will run on the CPU.</source>
      <translation>Die NVIDIA-GPU konnte nicht ausgelesen werden ({reason}); Modelle laufen auf der CPU.</translation>
    </message>
    <message>
      <source>GPU {number} could not be read ({reason}) and is left out.</source>
      <translation>GPU {number} konnte nicht ausgelesen werden ({reason}) und wird nicht verwendet.</translation>
    </message>
    <message>
      <source>No NVIDIA GPU driver found; the model will run on the CPU.</source>
      <translation>Kein NVIDIA-GPU-Treiber gefunden; das Modell läuft auf der CPU.</translation>
    </message>
    <message>
      <source>Other graphics cards could not be checked ({reason}).</source>
      <translation>Andere Grafikkarten konnten nicht geprüft werden ({reason}).</translation>
    </message>
    <message>
      <source>The NVIDIA GPU library (nvidia-ml-py) is not installed; using the CPU.</source>
      <translation>Die NVIDIA-GPU-Bibliothek (nvidia-ml-py) ist nicht installiert; die CPU wird verwendet.</translation>
    </message>
    <message>
      <source>The NVIDIA driver reports no GPU; the model will run on the CPU.</source>
      <translation>Der NVIDIA-Treiber meldet keine GPU; das Modell läuft auf der CPU.</translation>
    </message>
  </context>
  <context>
    <name>host</name>
    <message>
      <source>Embedding failed: {error}</source>
      <translation>Die Einbettung ist fehlgeschlagen: {error}</translation>
    </message>
    <message>
      <source>Loading was cancelled.</source>
      <translation>Das Laden wurde abgebrochen.</translation>
    </message>
    <message>
      <source>No model is loaded.</source>
      <translation>Es ist kein Modell geladen.</translation>
    </message>
    <message>
      <source>The engine failed on this request; the engine log has the details.</source>
      <translation>Die Engine ist bei dieser Anfrage gescheitert; Einzelheiten stehen im Protokoll der Engine.</translation>
    </message>
    <message>
      <source>The engine failed while answering: {error}</source>
      <translation>Die Engine ist beim Antworten gescheitert: {error}</translation>
    </message>
    <message>
      <source>The file {path} is not there.</source>
      <translation>Die Datei {path} ist nicht vorhanden.</translation>
    </message>
    <message>
      <source>The model engine could not start: its processor library is missing or does not run on this computer ({error}). Reinstalling Enclave usually fixes this.</source>
      <translation>Die Modell-Engine konnte nicht starten: Ihre Prozessor-Bibliothek fehlt oder läuft auf diesem Computer nicht ({error}). Eine Neuinstallation von Enclave behebt das meistens.</translation>
    </message>
    <message>
      <source>The model engine could not start: {error}</source>
      <translation>Die Modell-Engine konnte nicht starten: {error}</translation>
    </message>
    <message>
      <source>{problem} Enclave uses the standard “{format}” format for this model instead.</source>
      <translation>{problem} Enclave verwendet für dieses Modell stattdessen das Standardformat „{format}“.</translation>
    </message>
  </context>
  <context>
    <name>host_load</name>
    <message>
      <source>The engine could not load {name}: the file may be damaged, or made for a newer engine. The engine log has the details.</source>
      <translation>Die Engine konnte {name} nicht laden: Die Datei ist möglicherweise beschädigt oder für eine neuere Engine gemacht. Einzelheiten stehen im Protokoll der Engine.</translation>
    </message>
    <message>
      <source>The model file {name} is damaged, or made by a converter this engine does not understand: it lacks the setting '{what}' its model type needs.</source>
      <translation>Die Modelldatei {name} ist beschädigt oder mit einem Konverter erstellt, den diese Engine nicht versteht: Ihr fehlt die Einstellung „{what}“, die ihr Modelltyp braucht.</translation>
    </message>
    <message>
      <source>The model file {name} is damaged, or made by a converter this engine does not understand: it lists the same tensor twice.</source>
      <translation>Die Modelldatei {name} ist beschädigt oder mit einem Konverter erstellt, den diese Engine nicht versteht: Sie führt denselben Tensor zweimal auf.</translation>
    </message>
    <message>
      <source>The model file {name} is damaged, or made by a converter this engine does not understand: its setting '{what}' has the wrong kind of value.</source>
      <translation>Die Modelldatei {name} ist beschädigt oder mit einem Konverter erstellt, den diese Engine nicht versteht: Ihre Einstellung „{what}“ hat die falsche Art von Wert.</translation>
    </message>
    <message>
      <source>The model file {name} is damaged, or made by a converter this engine does not understand: its tensor '{what}' does not have the shape its description promises.</source>
      <translation>Die Modelldatei {name} ist beschädigt oder mit einem Konverter erstellt, den diese Engine nicht versteht: Ihr Tensor „{what}“ hat nicht die Form, die ihre Beschreibung verspricht.</translation>
    </message>
    <message>
      <source>The model file {name} is damaged, or made by a converter this engine does not understand: its tensor data is not where its header says.</source>
      <translation>Die Modelldatei {name} ist beschädigt oder mit einem Konverter erstellt, den diese Engine nicht versteht: Ihre Tensordaten liegen nicht dort, wo ihr Kopfteil es angibt.</translation>
    </message>
    <message>
      <source>The model file {name} is damaged, or made by a converter this engine does not understand: one of its settings has the wrong number of values.</source>
      <translation>Die Modelldatei {name} ist beschädigt oder mit einem Konverter erstellt, den diese Engine nicht versteht: Eine ihrer Einstellungen hat die falsche Anzahl von Werten.</translation>
    </message>
    <message>
      <source>The model file {name} is damaged, or made by a converter this engine does not understand: the tensor '{what}' that its model type needs is missing.</source>
      <translation>Die Modelldatei {name} ist beschädigt oder mit einem Konverter erstellt, den diese Engine nicht versteht: Der Tensor „{what}“, den ihr Modelltyp braucht, fehlt.</translation>
    </message>
    <message>
      <source>The model file {name} is incomplete or damaged (truncated download?).</source>
      <translation>Die Modelldatei {name} ist unvollständig oder beschädigt (abgebrochener Download?).</translation>
    </message>
    <message>
      <source>The model file {name} is incomplete or damaged: its tensor '{what}' runs past the end of the file.</source>
      <translation>Die Modelldatei {name} ist unvollständig oder beschädigt: Ihr Tensor „{what}“ reicht über das Dateiende hinaus.</translation>
    </message>
    <message>
      <source>The model file {name} is not a GGUF model file.</source>
      <translation>Die Modelldatei {name} ist keine GGUF-Modelldatei.</translation>
    </message>
    <message>
      <source>The model file {name} uses a model type ('{arch}') that this version of the engine cannot run yet.</source>
      <translation>Die Modelldatei {name} verwendet einen Modelltyp („{arch}“), den diese Version der Engine noch nicht ausführen kann.</translation>
    </message>
    <message>
      <source>The model file {name} uses a model type that this version of the engine cannot run yet.</source>
      <translation>Die Modelldatei {name} verwendet einen Modelltyp, den diese Version der Engine noch nicht ausführen kann.</translation>
    </message>
    <message>
      <source>The model file {name} uses a number format (for tensor '{what}') this engine does not know.</source>
      <translation>Die Modelldatei {name} verwendet ein Zahlenformat (für den Tensor „{what}“), das diese Engine nicht kennt.</translation>
    </message>
    <message>
      <source>The model file {name} uses a number format this engine does not know.</source>
      <translation>Die Modelldatei {name} verwendet ein Zahlenformat, das diese Engine nicht kennt.</translation>
    </message>
    <message>
      <source>There was not enough memory to load {name}. Try a smaller model or context size.</source>
      <translation>Der Arbeitsspeicher reichte nicht aus, um {name} zu laden. Versuchen Sie ein kleineres Modell oder eine kleinere Kontextgröße.</translation>
    </message>
  </context>
  <context>
    <name>hub</name>
    <message>
      <source>Something went wrong talking to Hugging Face: {problem}</source>
      <translation>Bei der Verbindung mit Hugging Face ist etwas schiefgelaufen: {problem}</translation>
    </message>
    <message>
      <source>That file in {model} was not found on Hugging Face. Check the name and try again.</source>
      <translation>Diese Datei in {model} wurde auf Hugging Face nicht gefunden. Prüfen Sie den Namen und versuchen Sie es erneut.</translation>
    </message>
    <message>
      <source>That version of {model} was not found on Hugging Face. Check the name and try again.</source>
      <translation>Diese Version von {model} wurde auf Hugging Face nicht gefunden. Prüfen Sie den Namen und versuchen Sie es erneut.</translation>
    </message>
    <message>
      <source>That was not found on Hugging Face. Check the name and try again.</source>
      <translation>Das Gesuchte wurde auf Hugging Face nicht gefunden. Prüfen Sie den Namen und versuchen Sie es erneut.</translation>
    </message>
    <message>
      <source>The file {file} in {model} was not found on Hugging Face. Check the name and try again.</source>
      <translation>Die Datei {file} in {model} wurde auf Hugging Face nicht gefunden. Prüfen Sie den Namen und versuchen Sie es erneut.</translation>
    </message>
    <message>
      <source>The model was not found on Hugging Face. Check the name and try again.</source>
      <translation>Das Modell wurde auf Hugging Face nicht gefunden. Prüfen Sie den Namen und versuchen Sie es erneut.</translation>
    </message>
    <message>
      <source>The model {model} was not found on Hugging Face. Check the name and try again.</source>
      <translation>Das Modell {model} wurde auf Hugging Face nicht gefunden. Prüfen Sie den Namen und versuchen Sie es erneut.</translation>
    </message>
    <message>
      <source>This model needs a Hugging Face account. Open {address} and accept its license, then add your Hugging Face token in Settings and try again.</source>
      <translation>Für dieses Modell brauchen Sie ein Konto bei Hugging Face. Öffnen Sie {address} und akzeptieren Sie die Lizenz, tragen Sie dann Ihren Token von Hugging Face in den Einstellungen ein und versuchen Sie es erneut.</translation>
    </message>
    <message>
      <source>This model needs your approval first. Open {address} , accept its license with your Hugging Face account, then try again.</source>
      <translation>Für dieses Modell ist zuerst Ihre Zustimmung nötig. Öffnen Sie {address} , akzeptieren Sie die Lizenz mit Ihrem Konto bei Hugging Face und versuchen Sie es dann erneut.</translation>
    </message>
    <message>
      <source>the hub answered {status}</source>
      <translation>der Hub antwortete mit {status}</translation>
    </message>
    <message>
      <source>{name} is not a valid model or file name.</source>
      <translation>{name} ist kein gültiger Modell- oder Dateiname.</translation>
    </message>
    <message>
      <source>{what} was not found on Hugging Face. Check the name and try again.</source>
      <translation>{what} wurde auf Hugging Face nicht gefunden. Prüfen Sie den Namen und versuchen Sie es erneut.</translation>
    </message>
  </context>
  <context>
    <name>index</name>
    <message>
      <source>a collection named {collection} already exists</source>
      <translation>eine Sammlung namens {collection} gibt es bereits</translation>
    </message>
    <message>
      <source>a collection needs a name</source>
      <translation>eine Sammlung braucht einen Namen</translation>
    </message>
    <message>
      <source>there is no collection named {collection}</source>
      <translation>es gibt keine Sammlung namens {collection}</translation>
    </message>
    <message>
      <source>{file} was written by a newer Enclave (schema {version})</source>
      <translation>{file} wurde von einer neueren Version von Enclave geschrieben (Schema {version})</translation>
    </message>
  </context>
  <context>
    <name>indexer</name>
    <message>
      <source>Embedding failed; some chunks are searchable by keywords only.</source>
      <translation>Die Einbettung ist fehlgeschlagen; einige Textstellen lassen sich nur per Stichwort durchsuchen.</translation>
    </message>
    <message>
      <source>Embedding failed; these files are searchable by keywords only.</source>
      <translation>Die Einbettung ist fehlgeschlagen; diese Dateien lassen sich nur per Stichwort durchsuchen.</translation>
    </message>
    <message>
      <source>No embedding model ({reason}): chunks are indexed for keyword search only; vectors are added on a later run with a model.</source>
      <translation>Kein Einbettungsmodell ({reason}): Textstellen werden nur für die Stichwortsuche indexiert; die Vektoren kommen bei einem späteren Durchlauf mit Modell hinzu.</translation>
    </message>
    <message>
      <source>The disk is full: the index of “{collection}” could not be saved. What was indexed so far is kept and can be searched; free some space, then index again to continue.</source>
      <translation>Die Festplatte ist voll: Der Index von „{collection}“ konnte nicht gespeichert werden. Was bisher indexiert wurde, bleibt erhalten und ist durchsuchbar. Geben Sie etwas Speicherplatz frei und indexieren Sie dann erneut, um fortzufahren.</translation>
    </message>
    <message>
      <source>Updating search for the new embedding model failed; search goes on with the previous model until the next try.</source>
      <translation>Die Suche konnte nicht für das neue Modell vorbereitet werden. Bis zum nächsten Versuch sucht sie weiter mit dem bisherigen Modell.</translation>
    </message>
    <message>
      <source>a link to a folder is not followed (add that folder itself to index it)</source>
      <translation>einem Link auf einen Ordner wird nicht gefolgt (fügen Sie den Ordner selbst hinzu, um ihn zu indexieren)</translation>
    </message>
    <message>
      <source>cannot read ({reason})</source>
      <translation>nicht lesbar ({reason})</translation>
    </message>
    <message>
      <source>none given</source>
      <translation>keine Angabe</translation>
    </message>
    <message>
      <source>not a regular file (a pipe, socket or device)</source>
      <translation>keine normale Datei (eine Pipe, ein Socket oder ein Gerät)</translation>
    </message>
    <message>
      <source>not found (moved, deleted or unplugged?)</source>
      <translation>nicht gefunden (verschoben, gelöscht oder nicht angeschlossen?)</translation>
    </message>
    <message>
      <source>the link points to a file that is not there</source>
      <translation>der Link zeigt auf eine Datei, die es nicht gibt</translation>
    </message>
    <message>
      <source>the link points to itself (a link loop)</source>
      <translation>der Link zeigt auf sich selbst (eine Link-Schleife)</translation>
    </message>
  </context>
  <context>
    <name>language</name>
    <message>
      <source>Same as this computer ({language})</source>
      <translation>Wie auf diesem Computer ({language})</translation>
    </message>
  </context>
  <context>
    <name>language_setting</name>
    <message>
      <source>Could not save the settings: {error}</source>
      <translation>Die Einstellungen konnten nicht gespeichert werden: {error}</translation>
    </message>
    <message>
      <source>Language</source>
      <translation>Sprache</translation>
    </message>
    <message>
      <source>Language of the window</source>
      <translation>Sprache des Fensters</translation>
    </message>
    <message>
      <source>Restart now</source>
      <translation>Jetzt neu starten</translation>
    </message>
  </context>
  <context>
    <name>library</name>
    <message numerus="yes">
      <source>%n models on this computer ({size}); {downloaded} downloaded with Enclave. Double-click one to chat with it.</source>
      <translation>
        <numerusform>%n Modell auf diesem Computer ({size}); {downloaded} mit Enclave heruntergeladen. Doppelklicken Sie darauf, um damit zu chatten.</numerusform>
        <numerusform>%n Modelle auf diesem Computer ({size}); {downloaded} mit Enclave heruntergeladen. Doppelklicken Sie auf ein Modell, um damit zu chatten.</numerusform>
      </translation>
    </message>
    <message>
      <source>Add a folder of models</source>
      <translation>Ordner mit Modellen hinzufügen</translation>
    </message>
    <message>
      <source>Add a folder…</source>
      <translation>Ordner hinzufügen…</translation>
    </message>
    <message>
      <source>Add a model file</source>
      <translation>Modelldatei hinzufügen</translation>
    </message>
    <message>
      <source>Add a model file…</source>
      <translation>Modelldatei hinzufügen…</translation>
    </message>
    <message>
      <source>Also list every model in a folder of yours</source>
      <translation>Auch alle Modelle aus einem eigenen Ordner anzeigen</translation>
    </message>
    <message>
      <source>Chat with this model</source>
      <translation>Mit diesem Modell chatten</translation>
    </message>
    <message>
      <source>Could not delete {file}: {reason}.</source>
      <translation>{file} konnte nicht gelöscht werden: {reason}.</translation>
    </message>
    <message>
      <source>Delete this model's file from your computer</source>
      <translation>Die Datei dieses Modells von Ihrem Computer löschen</translation>
    </message>
    <message>
      <source>Delete this model?</source>
      <translation>Dieses Modell löschen?</translation>
    </message>
    <message>
      <source>Delete {model} ({size}) from this computer?

You can download it again later from Discover.</source>
      <translation>{model} ({size}) von diesem Computer löschen?

Sie können es später unter Entdecken wieder herunterladen.</translation>
    </message>
    <message>
      <source>Delete…</source>
      <translation>Löschen…</translation>
    </message>
    <message>
      <source>Enclave could not list your models: {error}</source>
      <translation>Enclave konnte Ihre Modelle nicht auflisten: {error}</translation>
    </message>
    <message>
      <source>From</source>
      <translation>Herkunft</translation>
    </message>
    <message>
      <source>Go to Discover</source>
      <translation>Entdecken öffnen</translation>
    </message>
    <message>
      <source>Hugging Face cache</source>
      <translation>Cache von Hugging Face</translation>
    </message>
    <message>
      <source>Keep a model file you already have in this list (it stays where it is)</source>
      <translation>Eine vorhandene Modelldatei in diese Liste aufnehmen (sie bleibt, wo sie ist)</translation>
    </message>
    <message>
      <source>Last used</source>
      <translation>Zuletzt verwendet</translation>
    </message>
    <message>
      <source>Looking for models…</source>
      <translation>Modelle werden gesucht…</translation>
    </message>
    <message>
      <source>Missing: no longer at this place</source>
      <translation>Fehlt: nicht mehr an diesem Ort</translation>
    </message>
    <message>
      <source>Model</source>
      <translation>Modell</translation>
    </message>
    <message>
      <source>Model files (*.gguf);;All files (*)</source>
      <translation>Modelldateien (*.gguf);;Alle Dateien (*)</translation>
    </message>
    <message>
      <source>Models in {folder} are listed here from now on.</source>
      <translation>Modelle in {folder} werden ab jetzt hier angezeigt.</translation>
    </message>
    <message>
      <source>Models on this computer</source>
      <translation>Modelle auf diesem Computer</translation>
    </message>
    <message>
      <source>Models on this computer: Enclave's own and other apps'.</source>
      <translation>Modelle auf diesem Computer: die von Enclave und die anderer Apps.</translation>
    </message>
    <message>
      <source>Models you download, open or add appear here.</source>
      <translation>Modelle, die Sie herunterladen, öffnen oder hinzufügen, erscheinen hier.</translation>
    </message>
    <message>
      <source>No models yet — get one in Discover, or add a model file you already have.</source>
      <translation>Noch keine Modelle – holen Sie sich eines unter Entdecken oder fügen Sie eine vorhandene Modelldatei hinzu.</translation>
    </message>
    <message>
      <source>Not allowed by your organisation</source>
      <translation>Von Ihrer Organisation nicht erlaubt</translation>
    </message>
    <message>
      <source>On this computer</source>
      <translation>Auf diesem Computer</translation>
    </message>
    <message>
      <source>Organisation</source>
      <translation>Organisation</translation>
    </message>
    <message>
      <source>Press Enter or double-click a model to chat with it</source>
      <translation>Drücken Sie die Eingabetaste oder doppelklicken Sie auf ein Modell, um damit zu chatten</translation>
    </message>
    <message>
      <source>Quality: {quality}</source>
      <translation>Qualität: {quality}</translation>
    </message>
    <message>
      <source>Refresh</source>
      <translation>Aktualisieren</translation>
    </message>
    <message>
      <source>Refused to delete {file}: it is outside Enclave's models folder.</source>
      <translation>Löschen von {file} abgelehnt: Die Datei liegt außerhalb des Modellordners von Enclave.</translation>
    </message>
    <message>
      <source>Remove from list</source>
      <translation>Aus Liste entfernen</translation>
    </message>
    <message>
      <source>Show in folder</source>
      <translation>Im Ordner zeigen</translation>
    </message>
    <message>
      <source>Size</source>
      <translation>Größe</translation>
    </message>
    <message>
      <source>Take this model off the list; its file is not touched</source>
      <translation>Dieses Modell aus der Liste nehmen; die Datei bleibt unverändert</translation>
    </message>
    <message>
      <source>This file belongs to {app}; Enclave uses it where it is and never deletes it.</source>
      <translation>Diese Datei gehört zu {app}; Enclave verwendet sie an ihrem Ort und löscht sie nie.</translation>
    </message>
    <message>
      <source>This model belongs to {source}; Enclave only uses it and will not delete it. Remove it from {source} instead.</source>
      <translation>Dieses Modell gehört zu {source}; Enclave verwendet es nur und löscht es nicht. Entfernen Sie es stattdessen in {source}.</translation>
    </message>
    <message>
      <source>This model is open in the chat. Unload it first (Chat page), then delete it.</source>
      <translation>Dieses Modell ist im Chat geöffnet. Entladen Sie es zuerst (Seite „Chat“) und löschen Sie es dann.</translation>
    </message>
    <message>
      <source>Your file</source>
      <translation>Ihre Datei</translation>
    </message>
    <message>
      <source>Your folder</source>
      <translation>Ihr Ordner</translation>
    </message>
    <message>
      <source>Your models</source>
      <translation>Ihre Modelle</translation>
    </message>
    <message>
      <source>Your organisation shares this model; Enclave uses it where it is and never deletes it.</source>
      <translation>Ihre Organisation stellt dieses Modell bereit; Enclave verwendet es an seinem Ort und löscht es nie.</translation>
    </message>
    <message>
      <source>from {publisher}</source>
      <translation>von {publisher}</translation>
    </message>
    <message>
      <source>never</source>
      <translation>nie</translation>
    </message>
    <message>
      <source>{file} is in your Library.</source>
      <translation>{file} ist in Ihrer Bibliothek.</translation>
    </message>
    <message>
      <source>{file} is not a model file Enclave can use (it must be a GGUF file, the kind of file Discover downloads).</source>
      <translation>{file} ist keine Modelldatei, die Enclave verwenden kann (es muss eine GGUF-Datei sein, wie sie über Entdecken heruntergeladen wird).</translation>
    </message>
    <message>
      <source>{file} is not there any more.</source>
      <translation>{file} ist nicht mehr vorhanden.</translation>
    </message>
    <message>
      <source>{file} is off the list (the file was not touched).</source>
      <translation>{file} wurde aus der Liste entfernt (die Datei selbst bleibt unverändert).</translation>
    </message>
    <message>
      <source>{missing} no longer found.</source>
      <translation>{missing} nicht mehr gefunden.</translation>
    </message>
    <message>
      <source>{model} was deleted.</source>
      <translation>{model} wurde gelöscht.</translation>
    </message>
    <message>
      <source>{path} is no longer there (moved or deleted?). Remove it from the list, or put it back.</source>
      <translation>{path} ist nicht mehr vorhanden (verschoben oder gelöscht?). Entfernen Sie den Eintrag aus der Liste oder legen Sie die Datei wieder dorthin.</translation>
    </message>
  </context>
  <context>
    <name>link_confirm</name>
    <message>
      <source>Cancel</source>
      <translation>Abbrechen</translation>
    </message>
    <message>
      <source>Open a link from the answer?</source>
      <translation>Link aus der Antwort öffnen?</translation>
    </message>
    <message>
      <source>Open in browser</source>
      <translation>Im Browser öffnen</translation>
    </message>
    <message>
      <source>The answer links to this address. Open it in your web browser?</source>
      <translation>Die Antwort verweist auf diese Adresse. Im Webbrowser öffnen?</translation>
    </message>
  </context>
  <context>
    <name>loader</name>
    <message>
      <source>The draft model {name} could not be read, so answers come without it.</source>
      <translation>Das Entwurfsmodell {name} konnte nicht gelesen werden, die Antworten kommen daher ohne es.</translation>
    </message>
    <message>
      <source>The draft model {name} does not fit in the memory left beside this model, so answers come without it.</source>
      <translation>Das Entwurfsmodell {name} passt nicht in den Speicher, der neben diesem Modell frei bleibt, die Antworten kommen daher ohne es.</translation>
    </message>
    <message>
      <source>The model {model} is an embedding model: it turns text into numbers for document search and cannot write answers. Choose a chat model.</source>
      <translation>Das Modell {model} ist ein Einbettungsmodell: Es wandelt Text für die Dokumentsuche in Zahlen um und kann keine Antworten schreiben. Wählen Sie ein Chatmodell.</translation>
    </message>
    <message>
      <source>Your GPU ran out of memory with {tried} layers, so Enclave loaded the model with {loaded} layers on the GPU instead. It works, a little slower.</source>
      <translation>Ihrer GPU ist bei {tried} Schichten der Speicher ausgegangen, daher hat Enclave das Modell stattdessen mit {loaded} Schichten auf der GPU geladen. Es funktioniert, nur etwas langsamer.</translation>
    </message>
  </context>
  <context>
    <name>mail</name>
    <message>
      <source>attached mail {number}</source>
      <translation>angehängte E-Mail {number}</translation>
    </message>
    <message>
      <source>attachments nested deeper than this are not searchable</source>
      <translation>noch tiefer verschachtelte Anhänge sind nicht durchsuchbar</translation>
    </message>
    <message>
      <source>the attached mail {mail} could not be read ({reason})</source>
      <translation>die angehängte E-Mail {mail} konnte nicht gelesen werden ({reason})</translation>
    </message>
    <message>
      <source>the attachment {file} could not be read: {reason}</source>
      <translation>der Anhang {file} konnte nicht gelesen werden: {reason}</translation>
    </message>
    <message>
      <source>{attachment}: {note}</source>
      <translation>{attachment}: {note}</translation>
    </message>
  </context>
  <context>
    <name>main_window</name>
    <message>
      <source>Chat</source>
      <translation>Chat</translation>
    </message>
    <message>
      <source>Preset, instructions and answer settings for this chat</source>
      <translation>Vorlage, Anweisungen und Antworteinstellungen für diese Unterhaltung</translation>
    </message>
    <message>
      <source>Ready</source>
      <translation>Bereit</translation>
    </message>
    <message>
      <source>⚙ Chat settings</source>
      <translation>⚙ Chat-Optionen</translation>
    </message>
  </context>
  <context>
    <name>manager</name>
    <message>
      <source>Unexpected problem: {problem}</source>
      <translation>Unerwartetes Problem: {problem}</translation>
    </message>
  </context>
  <context>
    <name>markdown_render</name>
    <message>
      <source>Copy</source>
      <translation>Kopieren</translation>
    </message>
    <message>
      <source>code</source>
      <translation>Code</translation>
    </message>
  </context>
  <context>
    <name>message_widget</name>
    <message>
      <source>Answer: {answer}</source>
      <translation>Antwort: {answer}</translation>
    </message>
    <message>
      <source>Assistant</source>
      <translation>Assistent</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>Abbrechen</translation>
    </message>
    <message>
      <source>Copied ✓</source>
      <translation>Kopiert ✓</translation>
    </message>
    <message>
      <source>Copy</source>
      <translation>Kopieren</translation>
    </message>
    <message>
      <source>Copy this message</source>
      <translation>Diese Nachricht kopieren</translation>
    </message>
    <message>
      <source>Cut off: the answer reached its length limit. Ask “go on” for the rest.</source>
      <translation>Abgeschnitten: Die Antwort hat ihre maximale Länge erreicht. Schreiben Sie „weiter“, um den Rest zu erhalten.</translation>
    </message>
    <message>
      <source>Earlier version</source>
      <translation>Frühere Version</translation>
    </message>
    <message>
      <source>Edit</source>
      <translation>Bearbeiten</translation>
    </message>
    <message>
      <source>Edit this message and send it again</source>
      <translation>Diese Nachricht bearbeiten und erneut senden</translation>
    </message>
    <message>
      <source>Edit your message</source>
      <translation>Ihre Nachricht bearbeiten</translation>
    </message>
    <message>
      <source>Failed.</source>
      <translation>Fehlgeschlagen.</translation>
    </message>
    <message>
      <source>Interrupted: the engine stopped before this answer was finished.</source>
      <translation>Unterbrochen: Die Engine wurde beendet, bevor diese Antwort fertig war.</translation>
    </message>
    <message>
      <source>Later version</source>
      <translation>Spätere Version</translation>
    </message>
    <message>
      <source>Not in the model's memory</source>
      <translation>Nicht im Modellgedächtnis</translation>
    </message>
    <message>
      <source>Regenerate</source>
      <translation>Neu erzeugen</translation>
    </message>
    <message>
      <source>Send</source>
      <translation>Senden</translation>
    </message>
    <message>
      <source>Speed: {speed}</source>
      <translation>Geschwindigkeit: {speed}</translation>
    </message>
    <message>
      <source>Stopped.</source>
      <translation>Gestoppt.</translation>
    </message>
    <message>
      <source>System</source>
      <translation>System</translation>
    </message>
    <message>
      <source>This conversation is longer than the model's context: the oldest messages are left out of what the model sees when it answers.</source>
      <translation>Diese Unterhaltung ist länger als das Modellgedächtnis: Die ältesten Nachrichten sieht das Modell beim Antworten nicht mehr.</translation>
    </message>
    <message>
      <source>Write this answer again</source>
      <translation>Diese Antwort neu schreiben</translation>
    </message>
    <message>
      <source>You</source>
      <translation>Sie</translation>
    </message>
    <message>
      <source>first word after {time}</source>
      <translation>erstes Wort nach {time}</translation>
    </message>
    <message>
      <source>from the server {server}</source>
      <translation>vom Server {server}</translation>
    </message>
    <message>
      <source>on this computer</source>
      <translation>auf diesem Computer</translation>
    </message>
    <message>
      <source>{figures} (a token is about ¾ of a word)</source>
      <translation>{figures} (ein Token entspricht etwa ¾ eines Wortes)</translation>
    </message>
    <message>
      <source>{number}/{count}</source>
      <translation>{number}/{count}</translation>
    </message>
  </context>
  <context>
    <name>model</name>
    <message>
      <source>Connection problem; trying again in {seconds} s</source>
      <translation>Verbindungsproblem; neuer Versuch in {seconds} Sek.</translation>
    </message>
    <message>
      <source>Hugging Face gives no checksum for {file}, so Enclave cannot check it.</source>
      <translation>Hugging Face liefert keine Prüfsumme für {file}, daher kann Enclave die Datei nicht prüfen.</translation>
    </message>
    <message>
      <source>the download kept failing</source>
      <translation>der Download ist wiederholt fehlgeschlagen</translation>
    </message>
  </context>
  <context>
    <name>model_bar</name>
    <message>
      <source>Architecture:</source>
      <translation>Architektur:</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>Abbrechen</translation>
    </message>
    <message>
      <source>Chat template:</source>
      <translation>Gesprächsformat:</translation>
    </message>
    <message>
      <source>Context:</source>
      <translation>Modellgedächtnis:</translation>
    </message>
    <message>
      <source>Details</source>
      <translation>Details</translation>
    </message>
    <message>
      <source>Free the memory the model uses</source>
      <translation>Den Speicher freigeben, den das Modell belegt</translation>
    </message>
    <message>
      <source>GPU layers:</source>
      <translation>GPU-Schichten:</translation>
    </message>
    <message>
      <source>Get one in Discover, or open a model file you already have.</source>
      <translation>Holen Sie sich eines unter Entdecken oder öffnen Sie eine vorhandene Modelldatei.</translation>
    </message>
    <message>
      <source>Load</source>
      <translation>Laden</translation>
    </message>
    <message>
      <source>Loading… %p%</source>
      <translation>Wird geladen… %p%</translation>
    </message>
    <message>
      <source>Made for:</source>
      <translation>Gedacht für:</translation>
    </message>
    <message>
      <source>Memory:</source>
      <translation>Speicher:</translation>
    </message>
    <message>
      <source>Name in the file:</source>
      <translation>Name in der Datei:</translation>
    </message>
    <message>
      <source>No model yet</source>
      <translation>Noch kein Modell</translation>
    </message>
    <message>
      <source>Open a model file you already have (a .gguf file; or drop it on the window)</source>
      <translation>Eine vorhandene Modelldatei öffnen (eine .gguf-Datei; Sie können sie auch auf das Fenster ziehen)</translation>
    </message>
    <message>
      <source>Open model…</source>
      <translation>Modell öffnen…</translation>
    </message>
    <message>
      <source>Parameters:</source>
      <translation>Parameter:</translation>
    </message>
    <message>
      <source>Quantization:</source>
      <translation>Quantisierung:</translation>
    </message>
    <message>
      <source>RAM {ram}</source>
      <translation>RAM {ram}</translation>
    </message>
    <message>
      <source>Remembers:</source>
      <translation>Merkt sich:</translation>
    </message>
    <message>
      <source>Runs:</source>
      <translation>Läuft:</translation>
    </message>
    <message>
      <source>Size, quality, memory and the technical facts of this model</source>
      <translation>Größe, Qualität, Speicher und die technischen Daten dieses Modells</translation>
    </message>
    <message>
      <source>Size:</source>
      <translation>Größe:</translation>
    </message>
    <message>
      <source>Technical details</source>
      <translation>Technische Details</translation>
    </message>
    <message>
      <source>Unload</source>
      <translation>Entladen</translation>
    </message>
    <message>
      <source>continuing text (a base model)</source>
      <translation>Text fortsetzen (ein Basismodell)</translation>
    </message>
    <message>
      <source>conversations</source>
      <translation>Unterhaltungen</translation>
    </message>
    <message>
      <source>fully on the graphics card (GPU)</source>
      <translation>vollständig auf der Grafikkarte (GPU)</translation>
    </message>
    <message>
      <source>graphics card {gpu_memory} · RAM {ram}</source>
      <translation>Grafikkarte {gpu_memory} · RAM {ram}</translation>
    </message>
    <message>
      <source>in the file</source>
      <translation>in der Datei</translation>
    </message>
    <message>
      <source>none (a standard one is used)</source>
      <translation>keines (ein Standardformat wird verwendet)</translation>
    </message>
    <message>
      <source>on the processor (CPU): slower than on a graphics card</source>
      <translation>auf dem Prozessor (CPU): langsamer als auf einer Grafikkarte</translation>
    </message>
    <message>
      <source>partly on the graphics card (GPU), the rest on the processor</source>
      <translation>teils auf der Grafikkarte (GPU), der Rest auf dem Prozessor</translation>
    </message>
    <message>
      <source>{amount} of a conversation</source>
      <translation>{amount} einer Unterhaltung</translation>
    </message>
    <message>
      <source>{amount} {unit}</source>
      <translation>{amount} {unit}</translation>
    </message>
    <message>
      <source>{layers} of {total}</source>
      <translation>{layers} von {total}</translation>
    </message>
    <message>
      <source>{size} · Quality: {quality}</source>
      <translation>{size} · Qualität: {quality}</translation>
    </message>
    <message>
      <source>{tokens} tokens (trained for {trained})</source>
      <translation>{tokens} Token (trainiert für {trained})</translation>
    </message>
  </context>
  <context>
    <name>model_load_settings</name>
    <message>
      <source>Apply &amp;&amp; reload</source>
      <translation>Übernehmen &amp;&amp; neu laden</translation>
    </message>
    <message>
      <source>Automatic (from the model)</source>
      <translation>Automatisch (aus dem Modell)</translation>
    </message>
    <message>
      <source>Chat format</source>
      <translation>Chat-Format</translation>
    </message>
    <message>
      <source>Context size</source>
      <translation>Größe des Modellgedächtnisses</translation>
    </message>
    <message>
      <source>Default: {context}</source>
      <translation>Standard: {context}</translation>
    </message>
    <message>
      <source>How much of the conversation the model can keep in mind. Bigger needs more memory; Enclave lowers it if it does not fit this computer.</source>
      <translation>Wie viel von der Unterhaltung sich das Modell merken kann. Mehr braucht mehr Arbeitsspeicher; Enclave verringert den Wert, wenn er für diesen Computer zu groß ist.</translation>
    </message>
    <message>
      <source>How the conversation is written for the model. Automatic uses the template inside the model file; choose another only if answers look garbled. Saved for this model.</source>
      <translation>Wie die Unterhaltung für das Modell aufbereitet wird. „Automatisch“ verwendet das Format, das in der Modelldatei hinterlegt ist; wählen Sie nur dann ein anderes, wenn die Antworten wirr aussehen. Wird für dieses Modell gespeichert.</translation>
    </message>
    <message>
      <source>Load the model again with these settings (takes a few seconds)</source>
      <translation>Das Modell mit diesen Einstellungen neu laden (dauert ein paar Sekunden)</translation>
    </message>
    <message>
      <source>Model memory and format</source>
      <translation>Modellgedächtnis und Format</translation>
    </message>
    <message>
      <source>These apply when the model is loaded again.</source>
      <translation>Diese Einstellungen gelten, wenn das Modell neu geladen wird.</translation>
    </message>
  </context>
  <context>
    <name>model_page</name>
    <message numerus="yes">
      <source>%n files</source>
      <translation>
        <numerusform>%n Datei</numerusform>
        <numerusform>%n Dateien</numerusform>
      </translation>
    </message>
    <message>
      <source>*The description could not be loaded.*</source>
      <translation>*Die Beschreibung konnte nicht geladen werden.*</translation>
    </message>
    <message>
      <source>*This model has no description.*</source>
      <translation>*Dieses Modell hat keine Beschreibung.*</translation>
    </message>
    <message>
      <source>Added to Downloads. It starts when offline mode is off.</source>
      <translation>Zu den Downloads hinzugefügt. Der Download beginnt, sobald der Offline-Modus aus ist.</translation>
    </message>
    <message>
      <source>Download</source>
      <translation>Herunterladen</translation>
    </message>
    <message>
      <source>Download {file} ({size})</source>
      <translation>{file} herunterladen ({size})</translation>
    </message>
    <message>
      <source>File</source>
      <translation>Datei</translation>
    </message>
    <message>
      <source>Looking up the files on Hugging Face…</source>
      <translation>Dateien werden bei Hugging Face abgefragt…</translation>
    </message>
    <message>
      <source>None of these files fits this computer well. Try a smaller model.</source>
      <translation>Keine dieser Dateien passt gut zu diesem Computer. Versuchen Sie ein kleineres Modell.</translation>
    </message>
    <message>
      <source>On this computer</source>
      <translation>Auf diesem Computer</translation>
    </message>
    <message>
      <source>Open Settings</source>
      <translation>Einstellungen öffnen</translation>
    </message>
    <message>
      <source>Pick a file to download. Smaller files run faster.</source>
      <translation>Wählen Sie eine Datei zum Herunterladen. Kleinere Dateien laufen schneller.</translation>
    </message>
    <message>
      <source>Quality</source>
      <translation>Qualität</translation>
    </message>
    <message>
      <source>Queued ✓</source>
      <translation>In Warteschlange ✓</translation>
    </message>
    <message>
      <source>Size</source>
      <translation>Größe</translation>
    </message>
    <message>
      <source>Something went wrong: {error}</source>
      <translation>Etwas ist schiefgelaufen: {error}</translation>
    </message>
    <message>
      <source>The highlighted file is the best choice for this computer. Smaller files run faster; larger ones answer a little better.</source>
      <translation>Die hervorgehobene Datei ist die beste Wahl für diesen Computer. Kleinere Dateien laufen schneller, größere antworten etwas besser.</translation>
    </message>
    <message>
      <source>This model has no GGUF files Enclave can use.</source>
      <translation>Dieses Modell hat keine GGUF-Dateien, die Enclave verwenden kann.</translation>
    </message>
    <message>
      <source>Your organisation does not allow any file of this model.</source>
      <translation>Ihre Organisation erlaubt keine Datei dieses Modells.</translation>
    </message>
    <message>
      <source>asks you to accept its license</source>
      <translation>verlangt, dass Sie seine Lizenz akzeptieren</translation>
    </message>
    <message>
      <source>balanced, the usual choice</source>
      <translation>ausgewogen, die übliche Wahl</translation>
    </message>
    <message>
      <source>by {author}</source>
      <translation>von {author}</translation>
    </message>
    <message>
      <source>high quality</source>
      <translation>hohe Qualität</translation>
    </message>
    <message>
      <source>license: {license}</source>
      <translation>Lizenz: {license}</translation>
    </message>
    <message>
      <source>near original, large</source>
      <translation>fast wie das Original, groß</translation>
    </message>
    <message>
      <source>not stated</source>
      <translation>nicht angegeben</translation>
    </message>
    <message>
      <source>original, largest</source>
      <translation>Original, am größten</translation>
    </message>
    <message>
      <source>small, fair quality</source>
      <translation>klein, ordentliche Qualität</translation>
    </message>
    <message>
      <source>smallest, lowest quality</source>
      <translation>am kleinsten, niedrigste Qualität</translation>
    </message>
    <message>
      <source>updated {when}</source>
      <translation>aktualisiert {when}</translation>
    </message>
    <message>
      <source>very high quality</source>
      <translation>sehr hohe Qualität</translation>
    </message>
    <message>
      <source>{best} — {verdict}</source>
      <translation>{best} — {verdict}</translation>
    </message>
    <message>
      <source>{count} downloads</source>
      <translation>{count} Downloads</translation>
    </message>
    <message>
      <source>{count} likes</source>
      <translation>{count} Likes</translation>
    </message>
    <message>
      <source>{model} on Hugging Face</source>
      <translation>{model} bei Hugging Face</translation>
    </message>
    <message>
      <source>{name}  (one model in {parts} parts)</source>
      <translation>{name}  (ein Modell in {parts} Teilen)</translation>
    </message>
    <message>
      <source>{quality} ({quant})</source>
      <translation>{quality} ({quant})</translation>
    </message>
    <message>
      <source>← Back to Discover</source>
      <translation>← Zurück zu Entdecken</translation>
    </message>
    <message>
      <source>★ Best choice for this computer</source>
      <translation>★ Beste Wahl für diesen Computer</translation>
    </message>
  </context>
  <context>
    <name>model_presenter</name>
    <message>
      <source>Answers come from the server {server} now. To use a model on this computer, turn off “Use a server” in Settings.</source>
      <translation>Die Antworten kommen jetzt vom Server {server}. Um ein Modell auf diesem Computer zu verwenden, schalten Sie in den Einstellungen „Server statt dieses Computers verwenden“ aus.</translation>
    </message>
    <message>
      <source>Answers come from the server {server}: your messages go there, not to a model on this computer.</source>
      <translation>Die Antworten kommen vom Server {server}: Ihre Nachrichten gehen dorthin, nicht an ein Modell auf diesem Computer.</translation>
    </message>
    <message>
      <source>GGUF models (*.gguf);;All files (*)</source>
      <translation>GGUF-Modelle (*.gguf);;Alle Dateien (*)</translation>
    </message>
    <message>
      <source>Loaded {file} in {seconds} s</source>
      <translation>{file} in {seconds} Sek. geladen</translation>
    </message>
    <message>
      <source>Loading cancelled.</source>
      <translation>Laden abgebrochen.</translation>
    </message>
    <message>
      <source>No server model chosen</source>
      <translation>Kein Servermodell ausgewählt</translation>
    </message>
    <message>
      <source>Not loaded.</source>
      <translation>Nicht geladen.</translation>
    </message>
    <message>
      <source>Not loaded. Click Load to use it.</source>
      <translation>Nicht geladen. Klicken Sie auf „Laden“, um es zu verwenden.</translation>
    </message>
    <message>
      <source>Open a model</source>
      <translation>Modell öffnen</translation>
    </message>
    <message>
      <source>Please wait: the engine is busy. Stop the answer first.</source>
      <translation>Bitte warten: Die Engine ist beschäftigt. Stoppen Sie zuerst die Antwort.</translation>
    </message>
    <message>
      <source>Reading the model file…</source>
      <translation>Modelldatei wird gelesen…</translation>
    </message>
    <message>
      <source>The engine stopped. Click “Reload model” to go on.</source>
      <translation>Die Engine wurde beendet. Klicken Sie auf „Modell neu laden“, um fortzufahren.</translation>
    </message>
    <message>
      <source>The model used last time ({file}) is no longer there. Open another one.</source>
      <translation>Das zuletzt verwendete Modell ({file}) ist nicht mehr vorhanden. Öffnen Sie ein anderes.</translation>
    </message>
    <message>
      <source>This is a base model: it continues text rather than answering questions, so its replies may ramble. For conversations, choose a model made for chat (its name usually says “Instruct” or “Chat”): Discover recommends one for this computer.</source>
      <translation>Dies ist ein Basismodell: Es setzt Text fort, statt Fragen zu beantworten, daher können seine Antworten abschweifen. Wählen Sie für Unterhaltungen ein Modell, das für Chats gemacht ist (sein Name enthält meist „Instruct“ oder „Chat“): Entdecken empfiehlt Ihnen eines für diesen Computer.</translation>
    </message>
    <message>
      <source>Unloaded: the memory is free. Click Load to use it again.</source>
      <translation>Entladen: Der Speicher ist frei. Klicken Sie auf „Laden“, um es wieder zu verwenden.</translation>
    </message>
    <message>
      <source>Your organisation's default model ({model}) is not on this computer. Open another one.</source>
      <translation>Das Standardmodell Ihrer Organisation ({model}) ist nicht auf diesem Computer. Öffnen Sie ein anderes.</translation>
    </message>
    <message>
      <source>{file} is too large for this computer: {reason}</source>
      <translation>{file} ist zu groß für diesen Computer: {reason}</translation>
    </message>
  </context>
  <context>
    <name>models</name>
    <message>
      <source>Discover</source>
      <translation>Entdecken</translation>
    </message>
    <message>
      <source>Library</source>
      <translation>Bibliothek</translation>
    </message>
    <message>
      <source>Settings</source>
      <translation>Einstellungen</translation>
    </message>
    <message>
      <source>{file} is downloaded: it is in your Library.</source>
      <translation>{file} ist heruntergeladen und in Ihrer Bibliothek.</translation>
    </message>
  </context>
  <context>
    <name>models_common</name>
    <message numerus="yes">
      <source>%n days ago</source>
      <translation>
        <numerusform>vor %n Tag</numerusform>
        <numerusform>vor %n Tagen</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n hours ago</source>
      <translation>
        <numerusform>vor %n Stunde</numerusform>
        <numerusform>vor %n Stunden</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n minutes ago</source>
      <translation>
        <numerusform>vor %n Minute</numerusform>
        <numerusform>vor %n Minuten</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n months ago</source>
      <translation>
        <numerusform>vor %n Monat</numerusform>
        <numerusform>vor %n Monaten</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n years ago</source>
      <translation>
        <numerusform>vor %n Jahr</numerusform>
        <numerusform>vor %n Jahren</numerusform>
      </translation>
    </message>
    <message>
      <source>Checking…</source>
      <translation>Wird geprüft…</translation>
    </message>
    <message>
      <source>On the processor only: slow</source>
      <translation>Nur auf dem Prozessor: langsam</translation>
    </message>
    <message>
      <source>Partly on the GPU: a little slower</source>
      <translation>Teils auf der GPU: etwas langsamer</translation>
    </message>
    <message>
      <source>Partly on the GPU: slower</source>
      <translation>Teils auf der GPU: langsamer</translation>
    </message>
    <message>
      <source>Runs fully on your GPU</source>
      <translation>Läuft vollständig auf Ihrer GPU</translation>
    </message>
    <message>
      <source>Too large for this computer</source>
      <translation>Zu groß für diesen Computer</translation>
    </message>
    <message>
      <source>Unknown</source>
      <translation>Unbekannt</translation>
    </message>
    <message>
      <source>just now</source>
      <translation>gerade eben</translation>
    </message>
    <message>
      <source>yesterday</source>
      <translation>gestern</translation>
    </message>
    <message>
      <source>{count}B</source>
      <translation>{count} Mrd.</translation>
    </message>
    <message>
      <source>{count}K</source>
      <translation>{count} Tsd.</translation>
    </message>
    <message>
      <source>{count}M</source>
      <translation>{count} Mio.</translation>
    </message>
    <message>
      <source>{hours} h {minutes} min left</source>
      <translation>noch {hours} Std. {minutes} Min.</translation>
    </message>
    <message>
      <source>{minutes} min left</source>
      <translation>noch {minutes} Min.</translation>
    </message>
    <message>
      <source>{seconds} s left</source>
      <translation>noch {seconds} Sek.</translation>
    </message>
  </context>
  <context>
    <name>notice_bar</name>
    <message>
      <source>Dismiss</source>
      <translation>Schließen</translation>
    </message>
  </context>
  <context>
    <name>ocr</name>
    <message>
      <source>a picture: reading text from pictures is turned off</source>
      <translation>ein Bild: Das Lesen von Text aus Bildern ist ausgeschaltet</translation>
    </message>
    <message>
      <source>reading the text in the picture (page {page} of {pages})</source>
      <translation>Text im Bild wird gelesen (Seite {page} von {pages})</translation>
    </message>
    <message>
      <source>the picture is too large to read</source>
      <translation>das Bild ist zu groß zum Lesen</translation>
    </message>
    <message>
      <source>the picture looks damaged</source>
      <translation>das Bild scheint beschädigt zu sein</translation>
    </message>
  </context>
  <context>
    <name>office</name>
    <message>
      <source>only the first {rows} spreadsheet rows are searchable</source>
      <translation>nur die ersten {rows} Tabellenzeilen sind durchsuchbar</translation>
    </message>
  </context>
  <context>
    <name>page_rail</name>
    <message>
      <source>{page} ({shortcut})</source>
      <translation>{page} ({shortcut})</translation>
    </message>
  </context>
  <context>
    <name>plain_words</name>
    <message>
      <source>about {count} words</source>
      <translation>etwa {count} Wörter</translation>
    </message>
    <message>
      <source>about {words} words a second</source>
      <translation>etwa {words} Wörter pro Sekunde</translation>
    </message>
    <message>
      <source>excellent</source>
      <translation>hervorragend</translation>
    </message>
    <message>
      <source>fair</source>
      <translation>ordentlich</translation>
    </message>
    <message>
      <source>good</source>
      <translation>gut</translation>
    </message>
    <message>
      <source>low</source>
      <translation>niedrig</translation>
    </message>
    <message>
      <source>lowest</source>
      <translation>am niedrigsten</translation>
    </message>
    <message>
      <source>near original</source>
      <translation>fast wie das Original</translation>
    </message>
    <message>
      <source>original</source>
      <translation>Original</translation>
    </message>
    <message>
      <source>very good</source>
      <translation>sehr gut</translation>
    </message>
    <message>
      <source>{minutes} min {seconds} s</source>
      <translation>{minutes} Min. {seconds} Sek.</translation>
    </message>
    <message>
      <source>{seconds} s</source>
      <translation>{seconds} Sek.</translation>
    </message>
    <message>
      <source>{words} ({count} tokens)</source>
      <translation>{words} ({count} Token)</translation>
    </message>
  </context>
  <context>
    <name>planner</name>
    <message>
      <source>Context lowered from {wanted} to {tokens} tokens to fit in memory.</source>
      <translation>Modellgedächtnis von {wanted} auf {tokens} Token verringert, damit es in den Speicher passt.</translation>
    </message>
    <message>
      <source>Context: {tokens} tokens.</source>
      <translation>Modellgedächtnis: {tokens} Token.</translation>
    </message>
    <message>
      <source>Estimated from the file size only; the real plan is made once it is downloaded.</source>
      <translation>Nur anhand der Dateigröße geschätzt; der genaue Plan entsteht nach dem Download.</translation>
    </message>
    <message>
      <source>Even with a {tokens}-token context and part on the GPU, the model does not fit in memory ({free} RAM free, {kept} kept for the system).</source>
      <translation>Selbst mit einem Modellgedächtnis von {tokens} Token und teilweise auf der GPU passt das Modell nicht in den Speicher ({free} RAM frei, {kept} für das System reserviert).</translation>
    </message>
    <message>
      <source>GPU {gpu}: plan uses {used} of {free} free (keeping {kept} for the driver and other apps).</source>
      <translation>GPU {gpu}: Der Plan belegt {used} von {free} freiem Speicher ({kept} bleiben für den Treiber und andere Apps reserviert).</translation>
    </message>
    <message>
      <source>GPU {gpu}: takes {share}% of the layers, about {used} of its {free} free.</source>
      <translation>GPU {gpu}: übernimmt {share} % der Schichten, etwa {used} von {free} freiem Speicher.</translation>
    </message>
    <message>
      <source>Needs {needed}, this computer has {have} available</source>
      <translation>Benötigt {needed}, dieser Computer hat {have} verfügbar</translation>
    </message>
    <message>
      <source>Only the output layer on your GPU, the rest on the CPU: slower</source>
      <translation>Nur die Ausgabeschicht auf Ihrer GPU, der Rest auf der CPU: langsamer</translation>
    </message>
    <message>
      <source>Pick a smaller model or a smaller quantization (for example Q4_K_M instead of Q8_0).</source>
      <translation>Wählen Sie ein kleineres Modell oder eine kleinere Quantisierung (zum Beispiel Q4_K_M statt Q8_0).</translation>
    </message>
    <message>
      <source>RAM: plan uses {used} of {available} available.</source>
      <translation>RAM: Der Plan belegt {used} von {available} verfügbarem Speicher.</translation>
    </message>
    <message numerus="yes">
      <source>Runs fully on your %n GPUs</source>
      <translation>
        <numerusform>Läuft vollständig auf Ihrer %n GPU</numerusform>
        <numerusform>Läuft vollständig auf Ihren %n GPUs</numerusform>
      </translation>
    </message>
    <message>
      <source>Runs fully on your GPU</source>
      <translation>Läuft vollständig auf Ihrer GPU</translation>
    </message>
    <message>
      <source>Runs on the CPU (no usable GPU found): slower than on a GPU</source>
      <translation>Läuft auf der CPU (keine nutzbare GPU gefunden): langsamer als auf einer GPU</translation>
    </message>
    <message>
      <source>Runs on the CPU, the GPU has too little free memory: slower</source>
      <translation>Läuft auf der CPU, da die GPU zu wenig freien Speicher hat: langsamer</translation>
    </message>
    <message>
      <source>The model was trained for at most {trained} tokens of context, so {wanted} was capped.</source>
      <translation>Das Modell wurde für ein Modellgedächtnis von höchstens {trained} Token trainiert, daher wurde {wanted} begrenzt.</translation>
    </message>
    <message>
      <source>To keep a {tokens}-token context, Enclave stores the conversation memory in a compact 8-bit form: {compact} instead of {full} (answers stay practically the same).</source>
      <translation>Für ein Modellgedächtnis von {tokens} Token speichert Enclave den Verlauf der Unterhaltung in einer kompakten 8-Bit-Form: {compact} statt {full} (die Antworten bleiben praktisch gleich).</translation>
    </message>
    <message>
      <source>{on_gpu} of {layers} layers on your GPU, the rest on the CPU: slower</source>
      <translation>{on_gpu} von {layers} Schichten auf Ihrer GPU, der Rest auf der CPU: langsamer</translation>
    </message>
    <message>
      <source>{size} GB</source>
      <translation>{size} GB</translation>
    </message>
    <message>
      <source>{size} MB</source>
      <translation>{size} MB</translation>
    </message>
  </context>
  <context>
    <name>policy</name>
    <message>
      <source>Until it is fixed, Enclave uses the strictest settings: no internet, no downloads, no company server, no local API, and conversations are not saved.</source>
      <translation>Bis das behoben ist, verwendet Enclave die strengsten Einstellungen: kein Internet, keine Downloads, kein Firmenserver, keine lokale API, und Unterhaltungen werden nicht gespeichert.</translation>
    </message>
    <message>
      <source>strictest reading (the policy could not be read in full)</source>
      <translation>strengste Auslegung (die Richtlinie konnte nicht vollständig gelesen werden)</translation>
    </message>
    <message>
      <source>{origin} could not be read: {why}.</source>
      <translation>{origin} konnte nicht gelesen werden: {why}.</translation>
    </message>
    <message>
      <source>{origin}: “{key}” is not a policy key Enclave knows (a typo?).</source>
      <translation>{origin}: „{key}“ ist kein Richtlinienschlüssel, den Enclave kennt (ein Tippfehler?).</translation>
    </message>
    <message>
      <source>{origin}: “{key}” should be a list of texts.</source>
      <translation>{origin}: „{key}“ sollte eine Liste von Texten sein.</translation>
    </message>
    <message>
      <source>{origin}: “{key}” should be a text that is not empty.</source>
      <translation>{origin}: „{key}“ sollte ein nicht leerer Text sein.</translation>
    </message>
    <message>
      <source>{origin}: “{key}” should be true or false.</source>
      <translation>{origin}: „{key}“ sollte true oder false sein.</translation>
    </message>
  </context>
  <context>
    <name>policy_rules</name>
    <message>
      <source>Answers come from this computer only, never from a server.</source>
      <translation>Antworten kommen nur von diesem Computer, nie von einem Server.</translation>
    </message>
    <message>
      <source>Conversations are not saved: they are gone when Enclave closes.</source>
      <translation>Unterhaltungen werden nicht gespeichert: Sie sind weg, sobald Enclave geschlossen wird.</translation>
    </message>
    <message>
      <source>Conversations are saved on this computer.</source>
      <translation>Unterhaltungen werden auf diesem Computer gespeichert.</translation>
    </message>
    <message>
      <source>Downloading models is turned off: use the models already on this computer.</source>
      <translation>Das Herunterladen von Modellen ist ausgeschaltet: Verwenden Sie die Modelle, die bereits auf diesem Computer sind.</translation>
    </message>
    <message>
      <source>Enclave may connect to the internet for search and downloads.</source>
      <translation>Enclave darf für Suche und Downloads eine Verbindung zum Internet herstellen.</translation>
    </message>
    <message>
      <source>Enclave never connects to the internet: no search and no downloads.</source>
      <translation>Enclave verbindet sich nie mit dem Internet: keine Suche und keine Downloads.</translation>
    </message>
    <message>
      <source>Models can be downloaded.</source>
      <translation>Modelle können heruntergeladen werden.</translation>
    </message>
    <message>
      <source>Models come from this folder too. Enclave only reads it, never writes there.</source>
      <translation>Modelle kommen auch aus diesem Ordner. Enclave liest ihn nur und schreibt nie hinein.</translation>
    </message>
    <message>
      <source>New conversations start with this preset.</source>
      <translation>Neue Unterhaltungen beginnen mit dieser Vorlage.</translation>
    </message>
    <message>
      <source>No model is allowed on this computer.</source>
      <translation>Auf diesem Computer ist kein Modell erlaubt.</translation>
    </message>
    <message>
      <source>Only these company servers can answer instead of this computer.</source>
      <translation>Nur diese Firmenserver dürfen anstelle dieses Computers antworten.</translation>
    </message>
    <message>
      <source>Only these models can be found and opened; others are hidden or refused.</source>
      <translation>Nur diese Modelle können gefunden und geöffnet werden; andere werden ausgeblendet oder abgelehnt.</translation>
    </message>
    <message>
      <source>Other programs may use Enclave's model through the local API.</source>
      <translation>Andere Programme dürfen das Modell von Enclave über die lokale API nutzen.</translation>
    </message>
    <message>
      <source>The local API is off: other programs cannot use Enclave's model.</source>
      <translation>Die lokale API ist aus: Andere Programme können das Modell von Enclave nicht nutzen.</translation>
    </message>
    <message>
      <source>The local API may only listen on these addresses.</source>
      <translation>Die lokale API darf nur unter diesen Adressen erreichbar sein.</translation>
    </message>
    <message>
      <source>This model opens when you have not chosen one yourself.</source>
      <translation>Dieses Modell wird geöffnet, wenn Sie selbst keines gewählt haben.</translation>
    </message>
    <message>
      <source>Your organisation does not allow answers from a server: models run on this computer only.</source>
      <translation>Ihre Organisation erlaubt keine Antworten von einem Server: Modelle laufen nur auf diesem Computer.</translation>
    </message>
    <message>
      <source>Your organisation does not allow the API on {address}. Addresses allowed: {allowed}.</source>
      <translation>Ihre Organisation erlaubt die API unter {address} nicht. Erlaubte Adressen: {allowed}.</translation>
    </message>
    <message>
      <source>Your organisation does not allow the model {model} on this computer. Models allowed: {allowed}. Ask your IT department if you need it.</source>
      <translation>Ihre Organisation erlaubt das Modell {model} auf diesem Computer nicht. Erlaubte Modelle: {allowed}. Wenden Sie sich an Ihre IT-Abteilung, wenn Sie es brauchen.</translation>
    </message>
    <message>
      <source>Your organisation does not allow the model {model}, so it cannot be downloaded.</source>
      <translation>Ihre Organisation erlaubt das Modell {model} nicht, daher kann es nicht heruntergeladen werden.</translation>
    </message>
    <message>
      <source>Your organisation does not allow the server {server}. Servers allowed: {allowed}.</source>
      <translation>Ihre Organisation erlaubt den Server {server} nicht. Erlaubte Server: {allowed}.</translation>
    </message>
    <message>
      <source>Your organisation has turned off the local API: other programs cannot use Enclave's model.</source>
      <translation>Ihre Organisation hat die lokale API ausgeschaltet: Andere Programme können das Modell von Enclave nicht nutzen.</translation>
    </message>
    <message>
      <source>no</source>
      <translation>nein</translation>
    </message>
    <message>
      <source>none</source>
      <translation>keine</translation>
    </message>
    <message>
      <source>yes</source>
      <translation>ja</translation>
    </message>
    <message>
      <source>{folder} is your organisation's shared models folder: Enclave only reads it. Choose another models folder in Settings for your own downloads.</source>
      <translation>{folder} ist der gemeinsame Modellordner Ihrer Organisation: Enclave liest ihn nur. Wählen Sie in den Einstellungen einen anderen Modellordner für Ihre eigenen Downloads.</translation>
    </message>
  </context>
  <context>
    <name>policy_sources</name>
    <message>
      <source>{origin} could not be read: it is not a UTF-8 text file.</source>
      <translation>{origin} konnte nicht gelesen werden: Es ist keine UTF-8-Textdatei.</translation>
    </message>
    <message>
      <source>{origin} could not be read: it is not a valid property list.</source>
      <translation>{origin} konnte nicht gelesen werden: Es ist keine gültige Property List.</translation>
    </message>
    <message>
      <source>{origin} could not be read: it is not valid JSON (line {line}).</source>
      <translation>{origin} konnte nicht gelesen werden: Es ist kein gültiges JSON (Zeile {line}).</translation>
    </message>
    <message>
      <source>{origin} could not be read: it is not valid JSON.</source>
      <translation>{origin} konnte nicht gelesen werden: Es ist kein gültiges JSON.</translation>
    </message>
    <message>
      <source>{origin} could not be read: it should hold a dictionary of keys.</source>
      <translation>{origin} konnte nicht gelesen werden: Es sollte ein Wörterbuch mit Schlüsseln enthalten.</translation>
    </message>
    <message>
      <source>{origin} could not be read: it should hold one JSON object, { ... }.</source>
      <translation>{origin} konnte nicht gelesen werden: Es sollte genau ein JSON-Objekt enthalten, { ... }.</translation>
    </message>
    <message>
      <source>{origin} could not be read: there is no such file.</source>
      <translation>{origin} konnte nicht gelesen werden: Diese Datei gibt es nicht.</translation>
    </message>
  </context>
  <context>
    <name>policy_view</name>
    <message>
      <source>API addresses</source>
      <translation>API-Adressen</translation>
    </message>
    <message>
      <source>Chat history</source>
      <translation>Chatverlauf</translation>
    </message>
    <message>
      <source>Company servers</source>
      <translation>Firmenserver</translation>
    </message>
    <message>
      <source>Default model</source>
      <translation>Standardmodell</translation>
    </message>
    <message>
      <source>Default preset</source>
      <translation>Standardvorlage</translation>
    </message>
    <message>
      <source>Downloads</source>
      <translation>Downloads</translation>
    </message>
    <message>
      <source>Internet</source>
      <translation>Internet</translation>
    </message>
    <message>
      <source>Local API</source>
      <translation>Lokale API</translation>
    </message>
    <message>
      <source>Models allowed</source>
      <translation>Erlaubte Modelle</translation>
    </message>
    <message>
      <source>Open Settings</source>
      <translation>Einstellungen öffnen</translation>
    </message>
    <message>
      <source>Organisation's models folder</source>
      <translation>Modellordner der Organisation</translation>
    </message>
    <message>
      <source>Your IT department has set these. You cannot change them here.</source>
      <translation>Diese Einstellungen hat Ihre IT-Abteilung festgelegt. Sie können sie hier nicht ändern.</translation>
    </message>
    <message>
      <source>Your organisation's policy for Enclave could not be read in full, so Enclave uses its strictest settings until IT fixes it. Settings says what is wrong.</source>
      <translation>Die Richtlinie Ihrer Organisation für Enclave konnte nicht vollständig gelesen werden. Daher verwendet Enclave die strengsten Einstellungen, bis Ihre IT das behebt. In den Einstellungen steht, was nicht stimmt.</translation>
    </message>
    <message>
      <source>{key}, set in {source}</source>
      <translation>{key}, festgelegt in {source}</translation>
    </message>
    <message>
      <source>{lock} &lt;b&gt;{setting}&lt;/b&gt;: {value}. {explanation}</source>
      <translation>{lock} &lt;b&gt;{setting}&lt;/b&gt;: {value}. {explanation}</translation>
    </message>
    <message>
      <source>{lock} Set by your organisation</source>
      <translation>{lock} Von Ihrer Organisation festgelegt</translation>
    </message>
    <message>
      <source>{setting}: {value}. {explanation}</source>
      <translation>{setting}: {value}. {explanation}</translation>
    </message>
  </context>
  <context>
    <name>presets</name>
    <message>
      <source>A preset needs a name.</source>
      <translation>Eine Vorlage braucht einen Namen.</translation>
    </message>
    <message>
      <source>Any language in, English out.</source>
      <translation>Aus jeder Sprache ins Englische.</translation>
    </message>
    <message>
      <source>Creative writing</source>
      <translation>Kreatives Schreiben</translation>
    </message>
    <message>
      <source>Everyday questions and answers.</source>
      <translation>Alltägliche Fragen und Antworten.</translation>
    </message>
    <message>
      <source>Explain like I'm new</source>
      <translation>Einfach erklärt</translation>
    </message>
    <message>
      <source>Helpful assistant</source>
      <translation>Hilfreicher Assistent</translation>
    </message>
    <message>
      <source>Precise (code and facts)</source>
      <translation>Präzise (Code und Fakten)</translation>
    </message>
    <message>
      <source>Rewrite formally</source>
      <translation>Förmlich umschreiben</translation>
    </message>
    <message>
      <source>Short bullet points of a text you paste.</source>
      <translation>Kurze Stichpunkte zu einem eingefügten Text.</translation>
    </message>
    <message>
      <source>Simple explanations without jargon.</source>
      <translation>Einfache Erklärungen ohne Fachjargon.</translation>
    </message>
    <message>
      <source>Steadier answers for code, numbers and facts.</source>
      <translation>Beständigere Antworten für Code, Zahlen und Fakten.</translation>
    </message>
    <message>
      <source>Stories, poems, ideas: more varied answers.</source>
      <translation>Geschichten, Gedichte, Ideen: abwechslungsreichere Antworten.</translation>
    </message>
    <message>
      <source>Summarize</source>
      <translation>Zusammenfassen</translation>
    </message>
    <message>
      <source>Translate to English</source>
      <translation>Ins Englische übersetzen</translation>
    </message>
    <message>
      <source>Turns a draft into a professional message.</source>
      <translation>Macht aus einem Entwurf eine professionelle Nachricht.</translation>
    </message>
    <message>
      <source>“{preset}” is a built-in preset; choose another name.</source>
      <translation>„{preset}“ ist eine eingebaute Vorlage; wählen Sie einen anderen Namen.</translation>
    </message>
  </context>
  <context>
    <name>progress</name>
    <message>
      <source>{amount} B</source>
      <translation>{amount} B</translation>
    </message>
    <message>
      <source>{amount} GB</source>
      <translation>{amount} GB</translation>
    </message>
    <message>
      <source>{amount} KB</source>
      <translation>{amount} KB</translation>
    </message>
    <message>
      <source>{amount} MB</source>
      <translation>{amount} MB</translation>
    </message>
    <message>
      <source>{amount} TB</source>
      <translation>{amount} TB</translation>
    </message>
  </context>
  <context>
    <name>queue</name>
    <message>
      <source>The app is closing.</source>
      <translation>Die App wird geschlossen.</translation>
    </message>
  </context>
  <context>
    <name>remote</name>
    <message>
      <source>Connected to {server}, but it has no model “{model}”. Choose one of its models.</source>
      <translation>Verbunden mit {server}, aber dort gibt es kein Modell „{model}“. Wählen Sie eines der Modelle des Servers.</translation>
    </message>
    <message>
      <source>Connected to {server}, but the server offers no models.</source>
      <translation>Verbunden mit {server}, aber der Server bietet keine Modelle an.</translation>
    </message>
    <message>
      <source>Connected to {server}. “{model}” answered in {seconds} s.</source>
      <translation>Verbunden mit {server}. „{model}“ hat in {seconds} Sek. geantwortet.</translation>
    </message>
    <message numerus="yes">
      <source>Connected to {server}: %n models available. Choose one.</source>
      <translation>
        <numerusform>Verbunden mit {server}: %n Modell verfügbar. Wählen Sie es aus.</numerusform>
        <numerusform>Verbunden mit {server}: %n Modelle verfügbar. Wählen Sie eines aus.</numerusform>
      </translation>
    </message>
    <message>
      <source>No model is chosen for the server. Choose one in Settings.</source>
      <translation>Für den Server ist kein Modell gewählt. Wählen Sie eines in den Einstellungen.</translation>
    </message>
    <message>
      <source>The server at {server} returned {embeddings} embeddings for {texts} texts.</source>
      <translation>Der Server unter {server} hat {embeddings} Einbettungen für {texts} Texte zurückgegeben.</translation>
    </message>
  </context>
  <context>
    <name>remote_address</name>
    <message>
      <source>Enter the server's address, for example http://ai-server:8000.</source>
      <translation>Geben Sie die Adresse des Servers ein, zum Beispiel http://ai-server:8000.</translation>
    </message>
    <message>
      <source>“{address}” is not a server address. It looks like http://ai-server:8000.</source>
      <translation>„{address}“ ist keine Serveradresse. Eine Adresse sieht so aus: http://ai-server:8000.</translation>
    </message>
  </context>
  <context>
    <name>remote_errors</name>
    <message>
      <source>Enclave cannot reach the server at {server}. Check the address, or ask your IT department whether it is running.</source>
      <translation>Enclave erreicht den Server unter {server} nicht. Prüfen Sie die Adresse oder fragen Sie Ihre IT-Abteilung, ob er läuft.</translation>
    </message>
    <message>
      <source>The conversation is too long for the model on the server. Start a new conversation, or use fewer documents.</source>
      <translation>Die Unterhaltung ist zu lang für das Modell auf dem Server. Beginnen Sie eine neue Unterhaltung oder verwenden Sie weniger Dokumente.</translation>
    </message>
    <message>
      <source>The server at {server} answered with an error ({status}): {words}</source>
      <translation>Der Server unter {server} hat mit einem Fehler geantwortet ({status}): {words}</translation>
    </message>
    <message>
      <source>The server at {server} closed the connection before it answered. Try again, or ask your IT department whether it is running.</source>
      <translation>Der Server unter {server} hat die Verbindung getrennt, bevor er geantwortet hat. Versuchen Sie es erneut oder fragen Sie Ihre IT-Abteilung, ob er läuft.</translation>
    </message>
    <message>
      <source>The server at {server} did not answer within {seconds} seconds. It may be busy; try again, or ask your IT department.</source>
      <translation>Der Server unter {server} hat nicht innerhalb von {seconds} Sekunden geantwortet. Vielleicht ist er ausgelastet; versuchen Sie es erneut oder fragen Sie Ihre IT-Abteilung.</translation>
    </message>
    <message>
      <source>The server at {server} does not have the model “{model}” ({words}). Check the address and the model in Settings.</source>
      <translation>Der Server unter {server} hat das Modell „{model}“ nicht ({words}). Prüfen Sie die Adresse und das Modell in den Einstellungen.</translation>
    </message>
    <message>
      <source>The server at {server} does not have what Enclave asked for ({words}). Check the address and the model in Settings.</source>
      <translation>Der Server unter {server} hat nicht, was Enclave angefordert hat ({words}). Prüfen Sie die Adresse und das Modell in den Einstellungen.</translation>
    </message>
    <message>
      <source>The server at {server} is busy. Try again in a moment.</source>
      <translation>Der Server unter {server} ist ausgelastet. Versuchen Sie es gleich noch einmal.</translation>
    </message>
    <message>
      <source>The server at {server} needs a key. Enter it in Settings (ask your IT department).</source>
      <translation>Der Server unter {server} braucht einen Schlüssel. Geben Sie ihn in den Einstellungen ein (fragen Sie Ihre IT-Abteilung danach).</translation>
    </message>
    <message>
      <source>The server at {server} refused the key. Check the key in Settings, or ask your IT department for a new one.</source>
      <translation>Der Server unter {server} hat den Schlüssel abgelehnt. Prüfen Sie den Schlüssel in den Einstellungen oder bitten Sie Ihre IT-Abteilung um einen neuen.</translation>
    </message>
    <message>
      <source>The server at {server} reported an error: {words}</source>
      <translation>Der Server unter {server} hat einen Fehler gemeldet: {words}</translation>
    </message>
    <message>
      <source>The server at {server} sent an answer Enclave does not understand ({problem}).</source>
      <translation>Der Server unter {server} hat eine Antwort gesendet, die Enclave nicht versteht ({problem}).</translation>
    </message>
    <message>
      <source>The server at {server} sent nothing more for {seconds} seconds. What arrived is kept.</source>
      <translation>Der Server unter {server} hat {seconds} Sekunden lang nichts mehr gesendet. Was bereits angekommen ist, bleibt erhalten.</translation>
    </message>
    <message>
      <source>The server stopped in the middle of the answer. What arrived is kept.</source>
      <translation>Der Server hat mitten in der Antwort aufgehört. Was bereits angekommen ist, bleibt erhalten.</translation>
    </message>
  </context>
  <context>
    <name>request_args</name>
    <message>
      <source>The JSON schema could not be used: {error}</source>
      <translation>Das JSON-Schema konnte nicht verwendet werden: {error}</translation>
    </message>
    <message>
      <source>The engine could not use this request: {reason}</source>
      <translation>Die Engine konnte diese Anfrage nicht verwenden: {reason}</translation>
    </message>
    <message>
      <source>The engine could not use this request: {reason}.</source>
      <translation>Die Engine konnte diese Anfrage nicht verwenden: {reason}.</translation>
    </message>
    <message>
      <source>The text is too long for this model: it is {tokens} tokens and the model was loaded with room for {window}. Shorten it, or load the model with a larger context.</source>
      <translation>Der Text ist zu lang für dieses Modell: Er umfasst {tokens} Tokens, und das Modell wurde mit Platz für {window} geladen. Kürzen Sie ihn oder laden Sie das Modell mit einem größeren Kontext.</translation>
    </message>
    <message>
      <source>response_format json_schema needs a 'schema' object.</source>
      <translation>response_format json_schema braucht ein Objekt „schema“.</translation>
    </message>
    <message>
      <source>response_format type '{kind}' is not supported (use json_object or json_schema).</source>
      <translation>Der response_format-Typ „{kind}“ wird nicht unterstützt (verwenden Sie json_object oder json_schema).</translation>
    </message>
  </context>
  <context>
    <name>rtf</name>
    <message>
      <source>only the first part of the RTF file is searchable (the file is very long)</source>
      <translation>nur der erste Teil der RTF-Datei ist durchsuchbar (die Datei ist sehr lang)</translation>
    </message>
  </context>
  <context>
    <name>sampling_settings</name>
    <message>
      <source>Above 1 discourages repeating the same words.</source>
      <translation>Werte über 1 wirken Wiederholungen derselben Wörter entgegen.</translation>
    </message>
    <message>
      <source>Creativity (temperature)</source>
      <translation>Kreativität (Temperatur)</translation>
    </message>
    <message>
      <source>Higher: more varied and creative. Lower: steadier and more predictable.</source>
      <translation>Höher: abwechslungsreicher und kreativer. Niedriger: gleichmäßiger und vorhersehbarer.</translation>
    </message>
    <message>
      <source>How it writes</source>
      <translation>Schreibstil</translation>
    </message>
    <message>
      <source>Longest answer (tokens)</source>
      <translation>Längste Antwort (Tokens)</translation>
    </message>
    <message>
      <source>Min-p</source>
      <translation>Min-p</translation>
    </message>
    <message>
      <source>Min-p: leave out words far less likely than the best one.</source>
      <translation>Min-p: Wörter weglassen, die viel unwahrscheinlicher sind als das wahrscheinlichste.</translation>
    </message>
    <message>
      <source>Random</source>
      <translation>Zufällig</translation>
    </message>
    <message>
      <source>Repetition penalty</source>
      <translation>Wiederholungsstrafe</translation>
    </message>
    <message>
      <source>Seed</source>
      <translation>Startwert</translation>
    </message>
    <message>
      <source>The longest answer, in tokens (a token is about ¾ word).</source>
      <translation>Die längste Antwort in Tokens (ein Token ist etwa ¾ eines Wortes).</translation>
    </message>
    <message>
      <source>The same seed, question and settings give the same answer. Empty: random.</source>
      <translation>Gleicher Startwert, gleiche Frage und gleiche Einstellungen ergeben dieselbe Antwort. Leer: zufällig.</translation>
    </message>
    <message>
      <source>Top-k</source>
      <translation>Top-k</translation>
    </message>
    <message>
      <source>Top-k: choose among this many most likely words (0: no limit).</source>
      <translation>Top-k: unter so vielen der wahrscheinlichsten Wörter wählen (0: keine Grenze).</translation>
    </message>
    <message>
      <source>Top-p</source>
      <translation>Top-p</translation>
    </message>
    <message>
      <source>Top-p: only the most likely words that add up to this share.</source>
      <translation>Top-p: nur die wahrscheinlichsten Wörter, die zusammen diesen Anteil ergeben.</translation>
    </message>
  </context>
  <context>
    <name>search</name>
    <message>
      <source>Collection {collection} was indexed with another embedding model; keyword search only there until it is re-indexed.</source>
      <translation>Die Sammlung {collection} wurde mit einem anderen Einbettungsmodell indexiert; dort gibt es nur die Stichwortsuche, bis sie neu indexiert wird.</translation>
    </message>
    <message>
      <source>No embedding model available ({reason}): keyword search (BM25) only.</source>
      <translation>Kein Einbettungsmodell verfügbar ({reason}): nur Stichwortsuche (BM25).</translation>
    </message>
    <message>
      <source>No embedding model available: keyword search (BM25) only.</source>
      <translation>Kein Einbettungsmodell verfügbar: nur Stichwortsuche (BM25).</translation>
    </message>
  </context>
  <context>
    <name>secrets</name>
    <message>
      <source>Your computer's password store could not remove the Hugging Face token.</source>
      <translation>Der Passwortspeicher Ihres Computers konnte das Token für Hugging Face nicht entfernen.</translation>
    </message>
    <message>
      <source>Your computer's password store could not remove the server key.</source>
      <translation>Der Passwortspeicher Ihres Computers konnte den Serverschlüssel nicht entfernen.</translation>
    </message>
    <message>
      <source>Your computer's password store could not save the API key. Unlock it (or install one) and try again.</source>
      <translation>Der Passwortspeicher Ihres Computers konnte den API-Schlüssel nicht speichern. Entsperren Sie ihn (oder installieren Sie einen) und versuchen Sie es erneut.</translation>
    </message>
    <message>
      <source>Your computer's password store could not save the Hugging Face token. Unlock it (or install one) and try again.</source>
      <translation>Der Passwortspeicher Ihres Computers konnte das Token für Hugging Face nicht speichern. Entsperren Sie ihn (oder installieren Sie einen) und versuchen Sie es erneut.</translation>
    </message>
    <message>
      <source>Your computer's password store could not save the server key. Unlock it (or install one) and try again.</source>
      <translation>Der Passwortspeicher Ihres Computers konnte den Serverschlüssel nicht speichern. Entsperren Sie ihn (oder installieren Sie einen) und versuchen Sie es erneut.</translation>
    </message>
  </context>
  <context>
    <name>server</name>
    <message>
      <source>'{host}' is not an address of this computer.</source>
      <translation>„{host}“ ist keine Adresse dieses Computers.</translation>
    </message>
    <message>
      <source>Enclave cannot listen on {address} ({reason}).</source>
      <translation>Enclave kann nicht auf {address} empfangen ({reason}).</translation>
    </message>
    <message>
      <source>Enclave cannot listen on {address}: {reason}.</source>
      <translation>Enclave kann nicht auf {address} empfangen: {reason}.</translation>
    </message>
    <message>
      <source>Port {port} is already in use on {host} (another program, or another Enclave). Choose another port.</source>
      <translation>Port {port} wird auf {host} schon verwendet (von einem anderen Programm oder einem zweiten Enclave). Wählen Sie einen anderen Port.</translation>
    </message>
    <message>
      <source>The API server did not start: {reason}.</source>
      <translation>Der API-Server ist nicht gestartet: {reason}.</translation>
    </message>
    <message>
      <source>timed out</source>
      <translation>Zeitüberschreitung</translation>
    </message>
  </context>
  <context>
    <name>server_settings</name>
    <message>
      <source>A key is saved in your computer's password store</source>
      <translation>Im Passwortspeicher Ihres Computers ist ein Schlüssel gespeichert</translation>
    </message>
    <message>
      <source>Address:</source>
      <translation>Adresse:</translation>
    </message>
    <message>
      <source>Company server</source>
      <translation>Firmenserver</translation>
    </message>
    <message>
      <source>Company server key</source>
      <translation>Schlüssel für den Firmenserver</translation>
    </message>
    <message>
      <source>Could not save the settings: {error}</source>
      <translation>Die Einstellungen konnten nicht gespeichert werden: {error}</translation>
    </message>
    <message>
      <source>Documents: prepare them for search on the server</source>
      <translation>Dokumente: auf dem Server für die Suche vorbereiten</translation>
    </message>
    <message>
      <source>Documents: prepare them for search on this computer</source>
      <translation>Dokumente: auf diesem Computer für die Suche vorbereiten</translation>
    </message>
    <message>
      <source>Enclave can use a model on your company's server (one that speaks the OpenAI API) instead of the model on this computer. Your messages then go to that server. Your IT department can tell you its address and give you a key.</source>
      <translation>Enclave kann statt des Modells auf diesem Computer ein Modell auf dem Server Ihrer Firma verwenden (einem Server, der die OpenAI-API unterstützt). Ihre Nachrichten gehen dann an diesen Server. Ihre IT-Abteilung nennt Ihnen die Adresse und gibt Ihnen einen Schlüssel.</translation>
    </message>
    <message>
      <source>Enter the server's address first.</source>
      <translation>Geben Sie zuerst die Adresse des Servers ein.</translation>
    </message>
    <message>
      <source>Enter the server's address first: the key is kept for that server.</source>
      <translation>Geben Sie zuerst die Adresse des Servers ein: Der Schlüssel wird für diesen Server gespeichert.</translation>
    </message>
    <message>
      <source>Forget key</source>
      <translation>Schlüssel löschen</translation>
    </message>
    <message>
      <source>Kept in your computer's password store.</source>
      <translation>Im Passwortspeicher Ihres Computers abgelegt.</translation>
    </message>
    <message>
      <source>Key forgotten.</source>
      <translation>Schlüssel gelöscht.</translation>
    </message>
    <message>
      <source>Key:</source>
      <translation>Schlüssel:</translation>
    </message>
    <message>
      <source>Model on the company server</source>
      <translation>Modell auf dem Firmenserver</translation>
    </message>
    <message>
      <source>Model:</source>
      <translation>Modell:</translation>
    </message>
    <message>
      <source>Paste the key here (leave empty if the server needs none)</source>
      <translation>Fügen Sie den Schlüssel hier ein (leer lassen, wenn der Server keinen braucht)</translation>
    </message>
    <message>
      <source>Press Test to see the server's models</source>
      <translation>Klicken Sie auf „Testen“, um die Modelle des Servers zu sehen</translation>
    </message>
    <message>
      <source>Test</source>
      <translation>Testen</translation>
    </message>
    <message>
      <source>Testing…</source>
      <translation>Wird getestet…</translation>
    </message>
    <message>
      <source>The test failed: {error}</source>
      <translation>Der Test ist fehlgeschlagen: {error}</translation>
    </message>
    <message>
      <source>Use a server instead of this computer</source>
      <translation>Server statt dieses Computers verwenden</translation>
    </message>
    <message>
      <source>With the server, your documents' text is sent to it for indexing. Changing this indexes your collections again.</source>
      <translation>Mit dem Server wird der Text Ihrer Dokumente zum Indexieren an ihn gesendet. Wenn Sie das ändern, werden Ihre Sammlungen neu indexiert.</translation>
    </message>
    <message>
      <source>Your organisation allows only these servers: {servers}.</source>
      <translation>Ihre Organisation erlaubt nur diese Server: {servers}.</translation>
    </message>
    <message>
      <source>Your organisation does not allow a server: answers come from this computer only.</source>
      <translation>Ihre Organisation erlaubt keinen Server: Antworten kommen nur von diesem Computer.</translation>
    </message>
    <message>
      <source>✓ Key saved in your computer's password store.</source>
      <translation>✓ Schlüssel im Passwortspeicher Ihres Computers gespeichert.</translation>
    </message>
  </context>
  <context>
    <name>session</name>
    <message numerus="yes">
      <source>%n documents</source>
      <translation>
        <numerusform>%n Dokument</numerusform>
        <numerusform>%n Dokumenten</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n passages</source>
      <translation>
        <numerusform>%n Textstelle</numerusform>
        <numerusform>%n Textstellen</numerusform>
      </translation>
    </message>
    <message>
      <source>Load a model first: open one with “Open model…”.</source>
      <translation>Laden Sie zuerst ein Modell: Öffnen Sie eines mit „Modell öffnen…“.</translation>
    </message>
    <message>
      <source>Looking through your documents…</source>
      <translation>Ihre Dokumente werden durchsucht…</translation>
    </message>
    <message>
      <source>Not all of the document was read: {reason}.</source>
      <translation>Das Dokument wurde nicht vollständig gelesen: {reason}.</translation>
    </message>
    <message>
      <source>Reading your question and {passages} from {documents}…</source>
      <translation>Ihre Frage und {passages} aus {documents} werden gelesen…</translation>
    </message>
    <message>
      <source>Reading your question…</source>
      <translation>Ihre Frage wird gelesen…</translation>
    </message>
    <message>
      <source>Reading {file}…</source>
      <translation>{file} wird gelesen…</translation>
    </message>
    <message>
      <source>Summarise {file}</source>
      <translation>{file} zusammenfassen</translation>
    </message>
    <message>
      <source>The disk is full: this chat could not be saved. Free some space; until then, what you see here is not kept when Enclave closes.</source>
      <translation>Die Festplatte ist voll: Diese Unterhaltung konnte nicht gespeichert werden. Geben Sie etwas Speicherplatz frei; bis dahin geht verloren, was Sie hier sehen, wenn Enclave geschlossen wird.</translation>
    </message>
    <message>
      <source>The {count} oldest messages were left out to fit the context.</source>
      <translation>Die {count} ältesten Nachrichten wurden weggelassen, damit alles ins Modellgedächtnis passt.</translation>
    </message>
    <message>
      <source>This chat is answered by the server {server}: your messages, and passages from documents you choose, are sent to it.</source>
      <translation>Diese Unterhaltung wird vom Server {server} beantwortet: Ihre Nachrichten und Textstellen aus Dokumenten, die Sie auswählen, werden an ihn gesendet.</translation>
    </message>
  </context>
  <context>
    <name>settings_page</name>
    <message>
      <source>Also list models from other apps (LM Studio, GPT4All, Ollama, Hugging Face cache)</source>
      <translation>Auch Modelle aus anderen Apps anzeigen (LM Studio, GPT4All, Ollama, Cache von Hugging Face)</translation>
    </message>
    <message>
      <source>Checking…</source>
      <translation>Wird geprüft…</translation>
    </message>
    <message>
      <source>Choose the models folder</source>
      <translation>Modellordner auswählen</translation>
    </message>
    <message>
      <source>Choose…</source>
      <translation>Auswählen…</translation>
    </message>
    <message>
      <source>Conversation memory:</source>
      <translation>Modellgedächtnis:</translation>
    </message>
    <message>
      <source>Could not save the settings: {error}</source>
      <translation>Die Einstellungen konnten nicht gespeichert werden: {error}</translation>
    </message>
    <message>
      <source>Documents</source>
      <translation>Dokumente</translation>
    </message>
    <message>
      <source>How much text a conversation can hold. Larger needs more memory; Enclave lowers it automatically when a model would not fit.</source>
      <translation>Wie viel Text eine Unterhaltung umfassen kann. Mehr braucht mehr Speicher; Enclave verringert den Wert automatisch, wenn ein Modell sonst nicht passen würde.</translation>
    </message>
    <message>
      <source>Hugging Face account</source>
      <translation>Konto bei Hugging Face</translation>
    </message>
    <message>
      <source>Hugging Face token</source>
      <translation>Token für Hugging Face</translation>
    </message>
    <message>
      <source>Internet</source>
      <translation>Internet</translation>
    </message>
    <message>
      <source>Kept in your computer's password store, never in a file.</source>
      <translation>Im Passwortspeicher Ihres Computers abgelegt, nie in einer Datei.</translation>
    </message>
    <message>
      <source>Models</source>
      <translation>Modelle</translation>
    </message>
    <message>
      <source>Models folder</source>
      <translation>Modellordner</translation>
    </message>
    <message>
      <source>Models folder:</source>
      <translation>Modellordner:</translation>
    </message>
    <message>
      <source>No token saved. Most models do not need one.</source>
      <translation>Kein Token gespeichert. Die meisten Modelle brauchen keines.</translation>
    </message>
    <message>
      <source>Offline mode: never connect to the internet (no search, no downloads)</source>
      <translation>Offline-Modus: nie mit dem Internet verbinden (keine Suche, keine Downloads)</translation>
    </message>
    <message>
      <source>Open</source>
      <translation>Öffnen</translation>
    </message>
    <message>
      <source>Paste your token in the box first.</source>
      <translation>Fügen Sie zuerst Ihr Token in das Feld ein.</translation>
    </message>
    <message>
      <source>Read scanned pages and pictures (slower: a few seconds per page)</source>
      <translation>Gescannte Seiten und Bilder lesen (langsamer: einige Sekunden pro Seite)</translation>
    </message>
    <message>
      <source>Remove token</source>
      <translation>Token entfernen</translation>
    </message>
    <message>
      <source>Save token</source>
      <translation>Token speichern</translation>
    </message>
    <message>
      <source>Saved.</source>
      <translation>Gespeichert.</translation>
    </message>
    <message>
      <source>Settings</source>
      <translation>Einstellungen</translation>
    </message>
    <message>
      <source>Some models ask you to accept their license before downloading. For those, create a “Read” token at &lt;a href="{url}"&gt;huggingface.co/settings/tokens&lt;/a&gt; and paste it here. It is kept in your computer's password store, never in a file.</source>
      <translation>Einige Modelle verlangen vor dem Herunterladen, dass Sie ihre Lizenz akzeptieren. Erstellen Sie dafür unter &lt;a href="{url}"&gt;huggingface.co/settings/tokens&lt;/a&gt; ein Token vom Typ „Read“ und fügen Sie es hier ein. Es wird im Passwortspeicher Ihres Computers abgelegt, nie in einer Datei.</translation>
    </message>
    <message>
      <source>Speculative decoding: the small model writes a few words ahead and the large one checks them all at once. It needs a smaller model of the same family in the Library, and applies the next time a model is loaded. On the processor alone it would be slower, so it is not used there.</source>
      <translation>Spekulatives Dekodieren: Das kleine Modell schreibt einige Wörter voraus, und das große prüft sie alle auf einmal. Dafür braucht es ein kleineres Modell derselben Familie in der Bibliothek; es gilt ab dem nächsten Laden eines Modells. Nur auf dem Prozessor wäre es langsamer, daher wird es dort nicht verwendet.</translation>
    </message>
    <message>
      <source>Speed up answers with a smaller model of the same family, when the model runs on the graphics card</source>
      <translation>Antworten mit einem kleineren Modell derselben Familie beschleunigen, wenn das Modell auf der Grafikkarte läuft</translation>
    </message>
    <message>
      <source>Text recognition (OCR) runs on this computer; it applies the next time a folder is indexed.</source>
      <translation>Die Texterkennung (OCR) läuft auf diesem Computer; sie gilt ab der nächsten Indizierung eines Ordners.</translation>
    </message>
    <message>
      <source>That value cannot be used for this setting.</source>
      <translation>Dieser Wert kann für diese Einstellung nicht verwendet werden.</translation>
    </message>
    <message>
      <source>Token removed.</source>
      <translation>Token entfernt.</translation>
    </message>
    <message>
      <source>Use a Hugging Face token another program left on this computer, for models that need an account</source>
      <translation>Ein Token für Hugging Face verwenden, das ein anderes Programm auf diesem Computer hinterlassen hat (für Modelle, die ein Konto erfordern)</translation>
    </message>
    <message>
      <source>Your organisation has turned off downloads: search works, downloading does not.</source>
      <translation>Ihre Organisation hat Downloads ausgeschaltet: Die Suche funktioniert, das Herunterladen nicht.</translation>
    </message>
    <message>
      <source>Your organisation keeps Enclave offline: this cannot be turned off.</source>
      <translation>Ihre Organisation hält Enclave offline: Das lässt sich nicht ausschalten.</translation>
    </message>
    <message>
      <source>Your organisation's models come from {folder} too. Enclave only reads that folder.</source>
      <translation>Die Modelle Ihrer Organisation kommen auch aus {folder}. Enclave liest diesen Ordner nur.</translation>
    </message>
    <message>
      <source>✓ A token is saved in your computer's password store.</source>
      <translation>✓ Im Passwortspeicher Ihres Computers ist ein Token gespeichert.</translation>
    </message>
    <message>
      <source>✓ Token saved in your computer's password store.</source>
      <translation>✓ Token im Passwortspeicher Ihres Computers gespeichert.</translation>
    </message>
  </context>
  <context>
    <name>speed_label</name>
    <message>
      <source>Enclave cannot predict a writing speed for this file.</source>
      <translation>Enclave kann für diese Datei keine Schreibgeschwindigkeit vorhersagen.</translation>
    </message>
    <message>
      <source>For a question about your documents (about {tokens} tokens to read first), the first word comes after about {time}.</source>
      <translation>Bei einer Frage zu Ihren Dokumenten (zuerst sind etwa {tokens} Token zu lesen) kommt das erste Wort nach etwa {time}.</translation>
    </message>
    <message>
      <source>Measure speed again</source>
      <translation>Geschwindigkeit neu messen</translation>
    </message>
    <message>
      <source>Measure this computer's speed again (about 10 seconds), for example after closing other programs. The speeds shown and the recommendation follow.</source>
      <translation>Die Geschwindigkeit dieses Computers neu messen (etwa 10 Sekunden), zum Beispiel nachdem Sie andere Programme geschlossen haben. Die angezeigten Geschwindigkeiten und die Empfehlung werden angepasst.</translation>
    </message>
    <message>
      <source>Measuring…</source>
      <translation>Wird gemessen…</translation>
    </message>
    <message>
      <source>Predicted for this computer, from the file's size only (an estimate; the real figure comes after download):</source>
      <translation>Für diesen Computer vorhergesagt, nur anhand der Dateigröße (eine Schätzung; der echte Wert kommt nach dem Download):</translation>
    </message>
    <message>
      <source>Predicted for this computer, from this file's own description:</source>
      <translation>Für diesen Computer vorhergesagt, anhand der Beschreibung dieser Datei:</translation>
    </message>
    <message>
      <source>Speed here</source>
      <translation>Geschwindigkeit hier</translation>
    </message>
    <message>
      <source>That is slow here (comfortable: at least {tokens_per_second} tokens a second and the first word within {seconds} s).</source>
      <translation>Das ist hier langsam (angenehm: mindestens {tokens_per_second} Token pro Sekunde und das erste Wort innerhalb von {seconds} Sek.).</translation>
    </message>
    <message>
      <source>This computer's speed could not be measured.</source>
      <translation>Die Geschwindigkeit dieses Computers konnte nicht gemessen werden.</translation>
    </message>
    <message>
      <source>This computer's speed is being measured (a few seconds, once).</source>
      <translation>Die Geschwindigkeit dieses Computers wird gemessen (einige Sekunden, einmalig).</translation>
    </message>
    <message>
      <source>Too large for this computer, so no speed to predict.</source>
      <translation>Zu groß für diesen Computer, daher lässt sich keine Geschwindigkeit vorhersagen.</translation>
    </message>
    <message>
      <source>Unknown</source>
      <translation>Unbekannt</translation>
    </message>
    <message numerus="yes">
      <source>about %n words a second</source>
      <translation>
        <numerusform>etwa %n Wort pro Sekunde</numerusform>
        <numerusform>etwa %n Wörter pro Sekunde</numerusform>
      </translation>
    </message>
    <message>
      <source>less than a word a second</source>
      <translation>weniger als ein Wort pro Sekunde</translation>
    </message>
    <message>
      <source>under a second</source>
      <translation>unter einer Sekunde</translation>
    </message>
    <message>
      <source>writes about {tokens_per_second} tokens a second, which is about {words_per_second} words a second (words ≈ tokens × 0.75: a model writes in pieces of words called tokens).</source>
      <translation>schreibt etwa {tokens_per_second} Token pro Sekunde, also etwa {words_per_second} Wörter pro Sekunde (Wörter ≈ Token × 0,75: Ein Modell schreibt in Wortteilen, die Token heißen).</translation>
    </message>
    <message>
      <source>{minutes} min</source>
      <translation>{minutes} Min.</translation>
    </message>
    <message>
      <source>{seconds} s</source>
      <translation>{seconds} Sek.</translation>
    </message>
    <message>
      <source>{speed} · first word after {time}</source>
      <translation>{speed} · erstes Wort nach {time}</translation>
    </message>
  </context>
  <context>
    <name>store</name>
    <message>
      <source>New chat</source>
      <translation>Neue Unterhaltung</translation>
    </message>
  </context>
  <context>
    <name>summarise</name>
    <message>
      <source>Combining the summaries of {file} ({part} of {parts})…</source>
      <translation>Die Zusammenfassungen von {file} werden kombiniert ({part} von {parts})…</translation>
    </message>
    <message>
      <source>Reading {file}: part {part} of {parts}…</source>
      <translation>{file} wird gelesen: Teil {part} von {parts}…</translation>
    </message>
    <message>
      <source>The model's context ({tokens} tokens) is too small to read a document in parts.</source>
      <translation>Das Modellgedächtnis ({tokens} Token) ist zu klein, um ein Dokument in Teilen zu lesen.</translation>
    </message>
    <message>
      <source>The summaries of this document do not fit the model's context.</source>
      <translation>Die Zusammenfassungen dieses Dokuments passen nicht ins Modellgedächtnis.</translation>
    </message>
    <message>
      <source>Writing the summary of {file}…</source>
      <translation>Die Zusammenfassung von {file} wird geschrieben…</translation>
    </message>
  </context>
  <context>
    <name>template_guard</name>
    <message>
      <source>This model's chat template calls itself without end (format the conversation stopped).</source>
      <translation>Das Gesprächsformat dieses Modells ruft sich endlos selbst auf (das Formatieren der Unterhaltung wurde gestoppt).</translation>
    </message>
    <message>
      <source>This model's chat template calls itself without end (load stopped).</source>
      <translation>Das Gesprächsformat dieses Modells ruft sich endlos selbst auf (das Laden wurde gestoppt).</translation>
    </message>
    <message>
      <source>This model's chat template failed to format the conversation: {reason}</source>
      <translation>Das Gesprächsformat dieses Modells konnte die Unterhaltung nicht formatieren: {reason}</translation>
    </message>
    <message>
      <source>This model's chat template failed to load: {reason}</source>
      <translation>Das Gesprächsformat dieses Modells konnte nicht geladen werden: {reason}</translation>
    </message>
    <message>
      <source>This model's chat template made a prompt of {count} characters from this conversation; the template is broken or hostile.</source>
      <translation>Das Gesprächsformat dieses Modells hat aus dieser Unterhaltung eine Eingabe von {count} Zeichen gemacht; das Format ist fehlerhaft oder bösartig.</translation>
    </message>
    <message>
      <source>This model's chat template needs more memory than this computer has to format the conversation.</source>
      <translation>Das Gesprächsformat dieses Modells braucht zum Formatieren der Unterhaltung mehr Arbeitsspeicher, als dieser Computer hat.</translation>
    </message>
    <message>
      <source>This model's chat template needs more memory than this computer has to load.</source>
      <translation>Das Gesprächsformat dieses Modells braucht zum Laden mehr Arbeitsspeicher, als dieser Computer hat.</translation>
    </message>
    <message>
      <source>This model's chat template took longer than {seconds} seconds to format the conversation and was stopped; the template is broken or hostile.</source>
      <translation>Das Gesprächsformat dieses Modells brauchte länger als {seconds} Sekunden, um die Unterhaltung zu formatieren, und wurde gestoppt; das Format ist fehlerhaft oder bösartig.</translation>
    </message>
    <message>
      <source>This model's chat template took longer than {seconds} seconds to load and was stopped; the template is broken or hostile.</source>
      <translation>Das Gesprächsformat dieses Modells brauchte länger als {seconds} Sekunden zum Laden und wurde gestoppt; das Format ist fehlerhaft oder bösartig.</translation>
    </message>
  </context>
  <context>
    <name>token_question</name>
    <message>
      <source>Another program on this computer has left a Hugging Face token (a sign-in) in {place}. Should Enclave use it?</source>
      <translation>Ein anderes Programm auf diesem Computer hat ein Token für Hugging Face (eine Anmeldung) in {place} hinterlassen. Soll Enclave es verwenden?</translation>
    </message>
    <message>
      <source>Don't use it</source>
      <translation>Nicht verwenden</translation>
    </message>
    <message>
      <source>Enclave does not use it unless you say so. If you do, Enclave sends it only to Hugging Face, and only for models that need an account (models whose license you accepted there). Searches never carry it. You can also save a token of your own in Settings.</source>
      <translation>Enclave verwendet es nur, wenn Sie zustimmen. Dann sendet Enclave es ausschließlich an Hugging Face und nur für Modelle, die ein Konto erfordern (Modelle, deren Lizenz Sie dort akzeptiert haben). Suchanfragen enthalten es nie. Sie können in den Einstellungen auch ein eigenes Token speichern.</translation>
    </message>
    <message>
      <source>Use it</source>
      <translation>Verwenden</translation>
    </message>
    <message>
      <source>Use your Hugging Face sign-in from another program?</source>
      <translation>Ihre Anmeldung bei Hugging Face aus einem anderen Programm verwenden?</translation>
    </message>
  </context>
  <context>
    <name>tokens</name>
    <message>
      <source>the file {path}</source>
      <translation>der Datei {path}</translation>
    </message>
    <message>
      <source>the {name} environment variable</source>
      <translation>der Umgebungsvariablen {name}</translation>
    </message>
  </context>
  <context>
    <name>tool_calls</name>
    <message>
      <source>tool_choice names the tool '{name}', which is not in tools.</source>
      <translation>tool_choice nennt das Werkzeug „{name}“, das nicht in tools steht.</translation>
    </message>
  </context>
</TS>