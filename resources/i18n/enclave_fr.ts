<?xml version='1.0' encoding='utf-8'?>
<TS version="2.1" language="fr" sourcelanguage="en">
  <context>
    <name>__init__</name>
    <message>
      <source>Documents</source>
      <translation>Documents</translation>
    </message>
  </context>
  <context>
    <name>api_badge</name>
    <message numerus="yes">
      <source>%n answering</source>
      <translation>
        <numerusform>%n réponse en cours</numerusform>
        <numerusform>%n réponses en cours</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n waiting</source>
      <translation>
        <numerusform>%n en attente</numerusform>
        <numerusform>%n en attente</numerusform>
      </translation>
    </message>
    <message>
      <source>API: {activity}</source>
      <translation>API : {activity}</translation>
    </message>
    <message>
      <source>Other programs are using the model through Enclave's API.</source>
      <translation>D'autres programmes utilisent le modèle via l'API d'Enclave.</translation>
    </message>
  </context>
  <context>
    <name>api_settings</name>
    <message>
      <source>A new key. Your computer's password store could not keep it, so it works until Enclave closes.</source>
      <translation>Nouvelle clé. Le trousseau de mots de passe de votre ordinateur n'a pas pu la conserver : elle fonctionnera jusqu'à la fermeture d'Enclave.</translation>
    </message>
    <message>
      <source>A new key: copy it now into the programs that will use Enclave.</source>
      <translation>Nouvelle clé : copiez-la dès maintenant dans les programmes qui utiliseront Enclave.</translation>
    </message>
    <message>
      <source>API key:</source>
      <translation>Clé d'API :</translation>
    </message>
    <message>
      <source>Address copied.</source>
      <translation>Adresse copiée.</translation>
    </message>
    <message>
      <source>Address other programs use</source>
      <translation>Adresse à indiquer aux autres programmes</translation>
    </message>
    <message>
      <source>Allow other computers on the network</source>
      <translation>Autoriser les autres ordinateurs du réseau</translation>
    </message>
    <message>
      <source>Base URL:</source>
      <translation>URL de base :</translation>
    </message>
    <message>
      <source>Copy</source>
      <translation>Copier</translation>
    </message>
    <message>
      <source>Could not save the settings: {error}</source>
      <translation>Impossible d'enregistrer les paramètres : {error}</translation>
    </message>
    <message>
      <source>Key copied.</source>
      <translation>Clé copiée.</translation>
    </message>
    <message>
      <source>Key other programs use</source>
      <translation>Clé à indiquer aux autres programmes</translation>
    </message>
    <message>
      <source>Let other programs on this computer use the model (OpenAI-compatible API)</source>
      <translation>Permettre aux autres programmes de cet ordinateur d'utiliser le modèle (API compatible OpenAI)</translation>
    </message>
    <message>
      <source>Make a new key; programs using the old one must get the new one.</source>
      <translation>Créer une nouvelle clé ; les programmes qui utilisent l'ancienne devront recevoir la nouvelle.</translation>
    </message>
    <message>
      <source>New key</source>
      <translation>Nouvelle clé</translation>
    </message>
    <message>
      <source>Other computers on your network can then use the model if they have the key, and what they send travels unencrypted. Turn this on only on a network you trust.</source>
      <translation>Les autres ordinateurs de votre réseau pourront alors utiliser le modèle s'ils ont la clé, et leurs échanges circuleront sans chiffrement. N'activez cette option que sur un réseau de confiance.</translation>
    </message>
    <message>
      <source>Other programs</source>
      <translation>Autres programmes</translation>
    </message>
    <message>
      <source>Port:</source>
      <translation>Port :</translation>
    </message>
    <message>
      <source>Programs send this key with each request. Copy copies it.</source>
      <translation>Les programmes envoient cette clé avec chaque requête. « Copier » la copie.</translation>
    </message>
    <message>
      <source>Programs written for OpenAI (editors, scripts, chat apps) can then ask the model that is loaded here. Your own questions in this window always go first.</source>
      <translation>Les programmes conçus pour OpenAI (éditeurs, scripts, applications de chat) pourront alors interroger le modèle chargé ici. Vos propres questions dans cette fenêtre restent toujours prioritaires.</translation>
    </message>
    <message>
      <source>Your organisation allows the API on this computer only, not on the network.</source>
      <translation>Votre organisation autorise l'API sur cet ordinateur uniquement, pas sur le réseau.</translation>
    </message>
  </context>
  <context>
    <name>cancel</name>
    <message>
      <source>Cancelled.</source>
      <translation>Annulé.</translation>
    </message>
  </context>
  <context>
    <name>catalog</name>
    <message>
      <source>The starter list names {wanted}, which {repo} does not have, and none of its other files fits this computer. Choose another starter model.</source>
      <translation>La liste des modèles de départ indique {wanted}, que {repo} ne contient pas, et aucun de ses autres fichiers ne convient à cet ordinateur. Choisissez un autre modèle de départ.</translation>
    </message>
    <message>
      <source>The starter list names {wanted}, which {repo} does not have; downloading {chosen} instead (the same {quant} quantization).</source>
      <translation>La liste des modèles de départ indique {wanted}, que {repo} ne contient pas ; téléchargement de {chosen} à la place (même quantification {quant}).</translation>
    </message>
    <message>
      <source>The starter list names {wanted}, which {repo} does not have; downloading {chosen} instead ({quant}, the best fit for this computer).</source>
      <translation>La liste des modèles de départ indique {wanted}, que {repo} ne contient pas ; téléchargement de {chosen} à la place ({quant}, le plus adapté à cet ordinateur).</translation>
    </message>
    <message>
      <source>The starter list names {wanted}, which {repo} does not have; downloading {chosen} instead ({quant}, the nearest quantization to {near}).</source>
      <translation>La liste des modèles de départ indique {wanted}, que {repo} ne contient pas ; téléchargement de {chosen} à la place ({quant}, la quantification la plus proche de {near}).</translation>
    </message>
    <message>
      <source>The starter model list could not be read ({path}).</source>
      <translation>Impossible de lire la liste des modèles de départ ({path}).</translation>
    </message>
    <message>
      <source>The starter model list is empty.</source>
      <translation>La liste des modèles de départ est vide.</translation>
    </message>
  </context>
  <context>
    <name>catalog_json</name>
    <message>
      <source>A solid all-rounder for chat and questions about your documents.</source>
      <translation>Un modèle polyvalent et solide pour discuter et poser des questions sur vos documents.</translation>
    </message>
    <message>
      <source>A strong general assistant: writing, analysis, many languages.</source>
      <translation>Un assistant généraliste performant : rédaction, analyse, nombreuses langues.</translation>
    </message>
    <message>
      <source>Clear writing and summaries of long documents (128k context), 140 languages.</source>
      <translation>Une rédaction claire et des résumés de longs documents (contexte de 128k), 140 langues.</translation>
    </message>
    <message>
      <source>Google's largest open Gemma: top quality on a 24 GB graphics card.</source>
      <translation>Le plus grand Gemma ouvert de Google : qualité maximale sur une carte graphique de 24 Go.</translation>
    </message>
    <message>
      <source>High-quality writing and long documents when you have a graphics card.</source>
      <translation>Une rédaction de qualité et de longs documents si vous avez une carte graphique.</translation>
    </message>
    <message>
      <source>Light everyday help and short summaries on older laptops.</source>
      <translation>Une aide légère au quotidien et des résumés courts sur les ordinateurs portables anciens.</translation>
    </message>
    <message>
      <source>Near top-tier quality for demanding work, on a 16-24 GB graphics card.</source>
      <translation>Une qualité proche du meilleur pour le travail exigeant, sur une carte graphique de 16 à 24 Go.</translation>
    </message>
    <message>
      <source>Noticeably smarter answers on a computer with a 12 GB+ graphics card.</source>
      <translation>Des réponses nettement plus fines sur un ordinateur avec une carte graphique de 12 Go ou plus.</translation>
    </message>
    <message>
      <source>Popular, well-rounded assistant for work questions and drafting.</source>
      <translation>Un assistant apprécié et équilibré pour les questions de travail et les brouillons.</translation>
    </message>
    <message>
      <source>Programming: writing, explaining and fixing code.</source>
      <translation>Programmation : écrire, expliquer et corriger du code.</translation>
    </message>
    <message>
      <source>Reasoning, maths and step-by-step explanations in a small package.</source>
      <translation>Raisonnement, mathématiques et explications pas à pas dans un format réduit.</translation>
    </message>
    <message>
      <source>Small and friendly: short emails, rewording, quick questions, many languages.</source>
      <translation>Petit et agréable : e-mails courts, reformulations, questions rapides, nombreuses langues.</translation>
    </message>
    <message>
      <source>Small but capable, many languages; reasons step by step when asked a hard question.</source>
      <translation>Petit mais capable, nombreuses langues ; raisonne pas à pas face à une question difficile.</translation>
    </message>
    <message>
      <source>Strong for its size: analysis, writing and careful step-by-step answers.</source>
      <translation>Performant pour sa taille : analyse, rédaction et réponses soignées pas à pas.</translation>
    </message>
    <message>
      <source>Tiny and fast: quick answers and trying Enclave on any computer. It may think aloud before answering.</source>
      <translation>Minuscule et rapide : des réponses vives et un essai d'Enclave sur n'importe quel ordinateur. Il lui arrive de réfléchir à voix haute avant de répondre.</translation>
    </message>
  </context>
  <context>
    <name>chat_context</name>
    <message>
      <source>No matching passages were found in the selected documents.</source>
      <translation>Aucun passage correspondant n'a été trouvé dans les documents sélectionnés.</translation>
    </message>
    <message>
      <source>No more passages fit this model's context ({tokens} tokens); a longer context in the model's settings makes room for more.</source>
      <translation>La mémoire de ce modèle ({tokens} jetons) ne peut pas contenir d'autres passages ; augmentez la mémoire dans les paramètres du modèle pour en ajouter.</translation>
    </message>
    <message>
      <source>The embedding model could not be used: keyword search (BM25) only.</source>
      <translation>Le modèle de plongement n'a pas pu être utilisé : recherche par mots-clés (BM25) uniquement.</translation>
    </message>
  </context>
  <context>
    <name>chat_presenter</name>
    <message>
      <source>Ask a question below to start.</source>
      <translation>Posez une question ci-dessous pour commencer.</translation>
    </message>
    <message>
      <source>Choose a server model in Settings</source>
      <translation>Choisissez un modèle du serveur dans les Paramètres</translation>
    </message>
    <message>
      <source>Last engine log lines:</source>
      <translation>Dernières lignes du journal du moteur :</translation>
    </message>
    <message>
      <source>Load a model first</source>
      <translation>Chargez d'abord un modèle</translation>
    </message>
    <message>
      <source>Reload model</source>
      <translation>Recharger le modèle</translation>
    </message>
    <message>
      <source>To chat, Enclave needs a model: the program that writes the answers. It can choose one that suits this computer and download it for you — one click below.
Already have a model file (.gguf)? Click “Open model…” above, or drop it on this window.
Your conversations stay on this computer.</source>
      <translation>Pour discuter, Enclave a besoin d'un modèle : le programme qui rédige les réponses. Enclave peut en choisir un adapté à cet ordinateur et le télécharger pour vous, en un clic ci-dessous.
Vous avez déjà un fichier de modèle (.gguf) ? Cliquez sur « Ouvrir un modèle… » ci-dessus, ou déposez-le sur cette fenêtre.
Vos conversations restent sur cet ordinateur.</translation>
    </message>
    <message>
      <source>What had arrived is kept, marked as interrupted.</source>
      <translation>Ce qui avait déjà été reçu est conservé et marqué comme interrompu.</translation>
    </message>
    <message>
      <source>Your edited question is a new version. The earlier question and its answers are kept: use ‹ › beside the question to switch between them.</source>
      <translation>Votre question modifiée devient une nouvelle version. La question précédente et ses réponses sont conservées : utilisez ‹ › à côté de la question pour passer de l'une à l'autre.</translation>
    </message>
  </context>
  <context>
    <name>chat_settings_presenter</name>
    <message>
      <source>(You asked for {asked}: this model and computer allow {allowed}.)</source>
      <translation>(Vous avez demandé {asked} : ce modèle et cet ordinateur permettent {allowed}.)</translation>
    </message>
    <message>
      <source>Loaded with a context of {tokens} tokens; chat format: {format}.</source>
      <translation>Chargé avec une mémoire de {tokens} jetons ; format de conversation : {format}.</translation>
    </message>
    <message>
      <source>Not loaded. “Apply &amp; reload” loads {file} with these settings.</source>
      <translation>Non chargé. « Appliquer &amp; recharger » charge {file} avec ces paramètres.</translation>
    </message>
    <message>
      <source>Open a model first: click “Open model…”.</source>
      <translation>Ouvrez d'abord un modèle : cliquez sur « Ouvrir un modèle… ».</translation>
    </message>
    <message>
      <source>Open a model to choose its context size and chat format.</source>
      <translation>Ouvrez un modèle pour choisir la taille de sa mémoire et son format de conversation.</translation>
    </message>
    <message>
      <source>Wait for the answer to finish (or press Stop), then reload.</source>
      <translation>Attendez la fin de la réponse (ou cliquez sur Arrêter), puis rechargez.</translation>
    </message>
    <message>
      <source>Your new choice takes effect after “Apply &amp; reload”.</source>
      <translation>Votre nouveau choix prendra effet après « Appliquer &amp; recharger ».</translation>
    </message>
    <message>
      <source>the model's own</source>
      <translation>celui du modèle</translation>
    </message>
  </context>
  <context>
    <name>chat_view</name>
    <message>
      <source>Ask anything — Enter to send, Shift+Enter for a new line</source>
      <translation>Posez votre question — Enter pour envoyer, Shift+Enter pour aller à la ligne</translation>
    </message>
    <message>
      <source>Earlier messages are beyond the model's memory</source>
      <translation>Les messages plus anciens dépassent la mémoire du modèle</translation>
    </message>
    <message>
      <source>Get the recommended model for this computer</source>
      <translation>Obtenir le modèle conseillé</translation>
    </message>
    <message>
      <source>Send</source>
      <translation>Envoyer</translation>
    </message>
    <message numerus="yes">
      <source>Show %n earlier messages ({hidden} not shown)</source>
      <translation>
        <numerusform>Afficher %n message précédent ({hidden} masqués)</numerusform>
        <numerusform>Afficher %n messages précédents ({hidden} masqués)</numerusform>
      </translation>
    </message>
    <message>
      <source>Stop</source>
      <translation>Arrêter</translation>
    </message>
    <message>
      <source>Stop the answer (Esc)</source>
      <translation>Arrêter la réponse (Échap)</translation>
    </message>
    <message>
      <source>Type a question for the model; Enter sends it, Shift+Enter starts a new line.</source>
      <translation>Tapez une question pour le modèle ; Enter l'envoie, Shift+Enter passe à la ligne.</translation>
    </message>
    <message>
      <source>Your question</source>
      <translation>Votre question</translation>
    </message>
  </context>
  <context>
    <name>citations</name>
    <message numerus="yes">
      <source>%n documents</source>
      <translation>
        <numerusform>%n document</numerusform>
        <numerusform>%n documents</numerusform>
      </translation>
    </message>
    <message>
      <source>Answer the same question again, reading about twice as many passages from your documents. The answer you have now is kept as an earlier version.</source>
      <translation>Reposer la même question en lisant environ deux fois plus de passages de vos documents. La réponse actuelle est conservée comme version précédente.</translation>
    </message>
    <message>
      <source>From &lt;b&gt;{file}&lt;/b&gt;</source>
      <translation>Extrait de &lt;b&gt;{file}&lt;/b&gt;</translation>
    </message>
    <message>
      <source>No program on this computer could open {file}. The passage the answer used is shown here.</source>
      <translation>Aucun programme de cet ordinateur n'a pu ouvrir {file}. Voici le passage utilisé pour la réponse.</translation>
    </message>
    <message>
      <source>Open file</source>
      <translation>Ouvrir le fichier</translation>
    </message>
    <message>
      <source>Open {path}</source>
      <translation>Ouvrir {path}</translation>
    </message>
    <message>
      <source>Read all of {file} and summarise it</source>
      <translation>Lire l'intégralité de {file} et le résumer</translation>
    </message>
    <message>
      <source>Show passage</source>
      <translation>Afficher le passage</translation>
    </message>
    <message>
      <source>Show passages</source>
      <translation>Afficher les passages</translation>
    </message>
    <message>
      <source>Summarise</source>
      <translation>Résumer</translation>
    </message>
    <message>
      <source>Use more passages</source>
      <translation>Utiliser plus de passages</translation>
    </message>
    <message numerus="yes">
      <source>Used %n passages from {documents}</source>
      <translation>
        <numerusform>%n passage utilisé, tiré de {documents}</numerusform>
        <numerusform>%n passages utilisés, tirés de {documents}</numerusform>
      </translation>
    </message>
    <message>
      <source>{file} is no longer at {path} (moved or deleted?).</source>
      <translation>{file} ne se trouve plus dans {path} (déplacé ou supprimé ?).</translation>
    </message>
  </context>
  <context>
    <name>client</name>
    <message>
      <source>No model is loaded.</source>
      <translation>Aucun modèle n'est chargé.</translation>
    </message>
  </context>
  <context>
    <name>collection_picker</name>
    <message>
      <source>Answer from your documents: choose the collections to use</source>
      <translation>Répondre à partir de vos documents : choisissez les collections à utiliser</translation>
    </message>
    <message>
      <source>Answering from: {collections}. {choose}.</source>
      <translation>Réponses tirées de : {collections}. {choose}.</translation>
    </message>
    <message numerus="yes">
      <source>Documents: %n collections</source>
      <translation>
        <numerusform>Documents : %n collection</numerusform>
        <numerusform>Documents : %n collections</numerusform>
      </translation>
    </message>
    <message>
      <source>Documents: off</source>
      <translation>Documents : désactivés</translation>
    </message>
    <message>
      <source>Documents: {collection}</source>
      <translation>Documents : {collection}</translation>
    </message>
    <message>
      <source>Manage documents…</source>
      <translation>Gérer les documents…</translation>
    </message>
    <message>
      <source>No collections yet</source>
      <translation>Aucune collection pour l'instant</translation>
    </message>
  </context>
  <context>
    <name>context_meter</name>
    <message numerus="yes">
      <source>%n oldest message left out — beyond the model's memory</source>
      <translation>
        <numerusform>%n message le plus ancien omis — au-delà de la mémoire du modèle</numerusform>
        <numerusform>%n messages les plus anciens omis — au-delà de la mémoire du modèle</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n oldest messages left out — beyond the model's memory</source>
      <translation>
        <numerusform>%n message le plus ancien omis — au-delà de la mémoire du modèle</numerusform>
        <numerusform>%n messages les plus anciens omis — au-delà de la mémoire du modèle</numerusform>
      </translation>
    </message>
    <message>
      <source>How much of the model's memory (its context) this conversation fills. When it is full, the oldest messages are left out of what the model sees.</source>
      <translation>Part de la mémoire du modèle (son contexte) occupée par cette conversation. Quand elle est pleine, les messages les plus anciens ne sont plus transmis au modèle.</translation>
    </message>
    <message>
      <source>Model memory: less than 1% full</source>
      <translation>Mémoire du modèle : remplie à moins de 1 %</translation>
    </message>
    <message>
      <source>Model memory: {percent}% full</source>
      <translation>Mémoire du modèle : remplie à {percent} %</translation>
    </message>
    <message>
      <source>The conversation is longer than the model's context. The assistant still answers, but no longer sees the oldest messages. A larger context size (Chat settings › Advanced) lets it remember more.</source>
      <translation>La conversation dépasse la mémoire du modèle. L'assistant répond toujours, mais ne voit plus les messages les plus anciens. Une taille de mémoire plus grande (Réglages du chat › Avancé) lui permet de se souvenir de davantage.</translation>
    </message>
    <message>
      <source>about {used} of {total} tokens (a token is about ¾ of a word).</source>
      <translation>environ {used} jetons sur {total} (un jeton correspond à environ ¾ de mot).</translation>
    </message>
    <message>
      <source>{used} of {total} tokens (a token is about ¾ of a word).</source>
      <translation>{used} jetons sur {total} (un jeton correspond à environ ¾ de mot).</translation>
    </message>
  </context>
  <context>
    <name>controller</name>
    <message>
      <source>Off.</source>
      <translation>Désactivée.</translation>
    </message>
    <message>
      <source>On: programs on this computer and the network can connect at {address}</source>
      <translation>Activée : les programmes de cet ordinateur et du réseau peuvent se connecter à {address}</translation>
    </message>
    <message>
      <source>On: programs on this computer can connect at {address}</source>
      <translation>Activée : les programmes de cet ordinateur peuvent se connecter à {address}</translation>
    </message>
    <message>
      <source>Starting…</source>
      <translation>Démarrage…</translation>
    </message>
    <message>
      <source>Stopping…</source>
      <translation>Arrêt…</translation>
    </message>
    <message>
      <source>The API could not start.</source>
      <translation>L'API n'a pas pu démarrer.</translation>
    </message>
  </context>
  <context>
    <name>conversation_list</name>
    <message>
      <source>+  New chat</source>
      <translation>+  Nouveau chat</translation>
    </message>
    <message>
      <source>Could not save {file}: {reason}</source>
      <translation>Impossible d'enregistrer {file} : {reason}</translation>
    </message>
    <message>
      <source>Delete</source>
      <translation>Supprimer</translation>
    </message>
    <message>
      <source>Deleted “{title}”</source>
      <translation>« {title} » supprimée</translation>
    </message>
    <message>
      <source>Enclave conversation (*.json)</source>
      <translation>Conversation Enclave (*.json)</translation>
    </message>
    <message>
      <source>Enclave conversation (*.json);;All files (*)</source>
      <translation>Conversation Enclave (*.json);;Tous les fichiers (*)</translation>
    </message>
    <message>
      <source>Export as JSON</source>
      <translation>Exporter en JSON</translation>
    </message>
    <message>
      <source>Export as JSON…</source>
      <translation>Exporter en JSON…</translation>
    </message>
    <message>
      <source>Export as Markdown</source>
      <translation>Exporter en Markdown</translation>
    </message>
    <message>
      <source>Export as Markdown…</source>
      <translation>Exporter en Markdown…</translation>
    </message>
    <message>
      <source>Import a conversation</source>
      <translation>Importer une conversation</translation>
    </message>
    <message>
      <source>Import a conversation saved as JSON by Enclave</source>
      <translation>Importer une conversation enregistrée en JSON par Enclave</translation>
    </message>
    <message>
      <source>Imported “{title}”</source>
      <translation>« {title} » importée</translation>
    </message>
    <message>
      <source>Import…</source>
      <translation>Importer…</translation>
    </message>
    <message>
      <source>Markdown (*.md)</source>
      <translation>Markdown (*.md)</translation>
    </message>
    <message>
      <source>New chat</source>
      <translation>Nouvelle conversation</translation>
    </message>
    <message>
      <source>No conversations match “{query}”</source>
      <translation>Aucune conversation ne correspond à « {query} »</translation>
    </message>
    <message>
      <source>No conversations yet — ask a question to start one</source>
      <translation>Aucune conversation pour l'instant — posez une question pour en commencer une</translation>
    </message>
    <message>
      <source>Rename</source>
      <translation>Renommer</translation>
    </message>
    <message>
      <source>Saved {path}</source>
      <translation>Enregistré : {path}</translation>
    </message>
    <message>
      <source>Saved “{file}”</source>
      <translation>« {file} » enregistré</translation>
    </message>
    <message>
      <source>Search conversations</source>
      <translation>Rechercher dans les conversations</translation>
    </message>
    <message>
      <source>Search conversations  (Ctrl+K)</source>
      <translation>Rechercher dans les conversations  (Ctrl+K)</translation>
    </message>
    <message>
      <source>Start a new conversation (Ctrl+N)</source>
      <translation>Nouvelle conversation (Ctrl+N)</translation>
    </message>
    <message>
      <source>Undo</source>
      <translation>Annuler</translation>
    </message>
    <message>
      <source>Your organisation has turned off chat history: conversations are not saved and are gone when Enclave closes.</source>
      <translation>Votre organisation a désactivé l'historique des conversations : elles ne sont pas enregistrées et disparaissent à la fermeture d'Enclave.</translation>
    </message>
  </context>
  <context>
    <name>conversation_settings</name>
    <message>
      <source>Advanced</source>
      <translation>Avancé</translation>
    </message>
    <message>
      <source>Changed from “{preset}”. &lt;a href='reset'&gt;Reset&lt;/a&gt; or save it as your own preset.</source>
      <translation>Modifié par rapport à « {preset} ». &lt;a href='reset'&gt;Rétablir&lt;/a&gt; ou enregistrer comme préréglage personnel.</translation>
    </message>
    <message>
      <source>Chat settings</source>
      <translation>Réglages du chat</translation>
    </message>
    <message>
      <source>Close the chat settings</source>
      <translation>Fermer les paramètres de la conversation</translation>
    </message>
    <message>
      <source>Custom</source>
      <translation>Personnalisé</translation>
    </message>
    <message>
      <source>Delete preset</source>
      <translation>Supprimer le préréglage</translation>
    </message>
    <message>
      <source>Delete this preset of yours (this chat keeps its settings)</source>
      <translation>Supprimer ce préréglage personnel (cette conversation garde ses paramètres)</translation>
    </message>
    <message>
      <source>For example: You are a patient teacher. Answer in French.</source>
      <translation>Par exemple : Vous êtes un enseignant patient. Répondez en français.</translation>
    </message>
    <message>
      <source>For the new chat: used from its first message.</source>
      <translation>Pour la nouvelle conversation : appliqué dès le premier message.</translation>
    </message>
    <message>
      <source>For this conversation only. Changes apply to the next answer.</source>
      <translation>Pour cette conversation uniquement. Les modifications s'appliquent à la prochaine réponse.</translation>
    </message>
    <message>
      <source>Instructions for the assistant</source>
      <translation>Consignes pour l'assistant</translation>
    </message>
    <message>
      <source>Instructions for this chat</source>
      <translation>Consignes pour cette conversation</translation>
    </message>
    <message>
      <source>Keep these instructions and settings for other chats</source>
      <translation>Conserver ces consignes et réglages pour d'autres conversations</translation>
    </message>
    <message>
      <source>Name for this preset:</source>
      <translation>Nom de ce préréglage :</translation>
    </message>
    <message>
      <source>Not saved: {reason}</source>
      <translation>Non enregistré : {reason}</translation>
    </message>
    <message>
      <source>Preset</source>
      <translation>Préréglage</translation>
    </message>
    <message>
      <source>Ready-made instructions and settings for common jobs</source>
      <translation>Consignes et réglages prêts à l'emploi pour les tâches courantes</translation>
    </message>
    <message>
      <source>Reset to the preset</source>
      <translation>Revenir au préréglage</translation>
    </message>
    <message>
      <source>Save as preset</source>
      <translation>Enregistrer comme préréglage</translation>
    </message>
    <message>
      <source>Save as preset…</source>
      <translation>Enregistrer comme préréglage…</translation>
    </message>
    <message>
      <source>Saved as “{preset}”. It is in the list for every chat.</source>
      <translation>Enregistré sous « {preset} ». Il figure dans la liste de chaque conversation.</translation>
    </message>
    <message>
      <source>The assistant reads these before every answer in this chat (the “system prompt”).</source>
      <translation>L'assistant lit ces consignes avant chaque réponse dans cette conversation (le « prompt système »).</translation>
    </message>
    <message>
      <source>Your own instructions and settings.</source>
      <translation>Vos propres consignes et réglages.</translation>
    </message>
    <message>
      <source>Your own preset</source>
      <translation>Votre préréglage</translation>
    </message>
    <message>
      <source>Your own preset.</source>
      <translation>Votre préréglage.</translation>
    </message>
    <message>
      <source>{preset}  (yours)</source>
      <translation>{preset}  (personnel)</translation>
    </message>
  </context>
  <context>
    <name>crash_cause</name>
    <message>
      <source>Last engine log line: {line}</source>
      <translation>Dernière ligne du journal du moteur : {line}</translation>
    </message>
    <message>
      <source>The model engine stopped while loading {model}: {cause}.</source>
      <translation>Le moteur du modèle s'est arrêté pendant le chargement de {model} : {cause}.</translation>
    </message>
    <message>
      <source>The model engine stopped while running {model}: {cause}.</source>
      <translation>Le moteur du modèle s'est arrêté pendant l'exécution de {model} : {cause}.</translation>
    </message>
    <message>
      <source>The model engine stopped: {cause}.</source>
      <translation>Le moteur du modèle s'est arrêté : {cause}.</translation>
    </message>
    <message>
      <source>The model file may be damaged or made for a newer engine.</source>
      <translation>Le fichier du modèle est peut-être endommagé ou conçu pour un moteur plus récent.</translation>
    </message>
    <message>
      <source>Your conversation is safe; you can reload the model.</source>
      <translation>Votre conversation est intacte ; vous pouvez recharger le modèle.</translation>
    </message>
    <message>
      <source>a memory access error in the engine's native code</source>
      <translation>une erreur d'accès à la mémoire dans le code natif du moteur</translation>
    </message>
    <message>
      <source>a signal from the system</source>
      <translation>un signal du système</translation>
    </message>
    <message>
      <source>an arithmetic error (such as a division by zero) in the engine's native code</source>
      <translation>une erreur arithmétique (comme une division par zéro) dans le code natif du moteur</translation>
    </message>
    <message>
      <source>an instruction this processor does not have</source>
      <translation>une instruction que ce processeur ne prend pas en charge</translation>
    </message>
    <message>
      <source>it ended with {signal}: {meaning}</source>
      <translation>il s'est terminé par {signal} : {meaning}</translation>
    </message>
    <message>
      <source>it exited with code {code}</source>
      <translation>il s'est arrêté avec le code {code}</translation>
    </message>
    <message>
      <source>it ran out of memory</source>
      <translation>il a manqué de mémoire</translation>
    </message>
    <message>
      <source>it stopped answering</source>
      <translation>il ne répondait plus</translation>
    </message>
    <message>
      <source>it was asked to stop by another program</source>
      <translation>un autre programme lui a demandé de s'arrêter</translation>
    </message>
    <message>
      <source>it was killed from outside, by the system (often because the computer ran out of memory) or by another program</source>
      <translation>il a été arrêté de l'extérieur, par le système (souvent parce que l'ordinateur manquait de mémoire) ou par un autre programme</translation>
    </message>
    <message>
      <source>it was stopped on request</source>
      <translation>il a été arrêté à la demande</translation>
    </message>
    <message>
      <source>llama.cpp stopped on one of its internal checks</source>
      <translation>llama.cpp s'est arrêté sur l'une de ses vérifications internes</translation>
    </message>
    <message>
      <source>the engine's native code gave up (abort)</source>
      <translation>le code natif du moteur a abandonné (abort)</translation>
    </message>
    <message>
      <source>the model file could not be read any more (it changed, shrank or its disk went away)</source>
      <translation>le fichier du modèle ne pouvait plus être lu (il a changé, rétréci, ou son disque a disparu)</translation>
    </message>
    <message>
      <source>the model's architecture ('{architecture}') is not supported by this engine</source>
      <translation>l'architecture du modèle (« {architecture} ») n'est pas prise en charge par ce moteur</translation>
    </message>
    <message>
      <source>the model's architecture is not supported by this engine</source>
      <translation>l'architecture du modèle n'est pas prise en charge par ce moteur</translation>
    </message>
  </context>
  <context>
    <name>decode</name>
    <message>
      <source>The engine could not set up sampling for this request.</source>
      <translation>Le moteur n'a pas pu configurer l'échantillonnage pour cette requête.</translation>
    </message>
  </context>
  <context>
    <name>diagnose</name>
    <message>
      <source>it has been revoked</source>
      <translation>il a été révoqué</translation>
    </message>
    <message>
      <source>it has expired</source>
      <translation>il a expiré</translation>
    </message>
    <message>
      <source>it is not valid yet (is this computer's clock right?)</source>
      <translation>il n'est pas encore valide (l'horloge de cet ordinateur est-elle à l'heure ?)</translation>
    </message>
    <message>
      <source>it was issued by an authority this computer does not trust</source>
      <translation>il a été émis par une autorité à laquelle cet ordinateur ne fait pas confiance</translation>
    </message>
    <message>
      <source>it was made out for another address</source>
      <translation>il a été établi pour une autre adresse</translation>
    </message>
    <message>
      <source>set for this computer</source>
      <translation>défini pour cet ordinateur</translation>
    </message>
    <message>
      <source>this computer does not accept it</source>
      <translation>cet ordinateur ne l'accepte pas</translation>
    </message>
  </context>
  <context>
    <name>discover</name>
    <message numerus="yes">
      <source>%n models shown · scroll down for more</source>
      <translation>
        <numerusform>%n modèle affiché · faites défiler pour en voir plus</numerusform>
        <numerusform>%n modèles affichés · faites défiler pour en voir plus</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n models · that is all</source>
      <translation>
        <numerusform>%n modèle · c'est tout</numerusform>
        <numerusform>%n modèles · c'est tout</numerusform>
      </translation>
    </message>
    <message>
      <source>Checking this computer…</source>
      <translation>Analyse de cet ordinateur…</translation>
    </message>
    <message>
      <source>Checking this computer… the download starts next.</source>
      <translation>Analyse de cet ordinateur… le téléchargement va commencer.</translation>
    </message>
    <message>
      <source>Discover models</source>
      <translation>Découvrir des modèles</translation>
    </message>
    <message>
      <source>Enclave could not examine this computer; the smallest model is a safe start.</source>
      <translation>Enclave n'a pas pu analyser cet ordinateur ; le plus petit modèle est un choix sûr pour commencer.</translation>
    </message>
    <message>
      <source>Get the recommended model for this computer</source>
      <translation>Obtenir le modèle conseillé</translation>
    </message>
    <message>
      <source>Getting {model} ({size}); see Downloads below. It appears in your Library when it is done.</source>
      <translation>Téléchargement de {model} ({size}) en cours ; voir Téléchargements ci-dessous. Il apparaîtra dans votre Bibliothèque une fois terminé.</translation>
    </message>
    <message>
      <source>Loading more…</source>
      <translation>Chargement de la suite…</translation>
    </message>
    <message>
      <source>Most downloaded</source>
      <translation>Les plus téléchargés</translation>
    </message>
    <message>
      <source>Most liked</source>
      <translation>Les plus appréciés</translation>
    </message>
    <message>
      <source>New here? Start with the model that suits this computer.</source>
      <translation>Première visite ? Commencez par le modèle adapté à cet ordinateur.</translation>
    </message>
    <message>
      <source>No models found.</source>
      <translation>Aucun modèle trouvé.</translation>
    </message>
    <message>
      <source>No models match “{query}”. Try a shorter or different word.</source>
      <translation>Aucun modèle ne correspond à « {query} ». Essayez un mot plus court ou différent.</translation>
    </message>
    <message>
      <source>Offline mode is on (see Settings)</source>
      <translation>Le mode hors ligne est activé (voir Paramètres)</translation>
    </message>
    <message>
      <source>Offline mode is on: Enclave does not connect to the internet, so searching and downloading are off. The starter list below still shows what would suit this computer.</source>
      <translation>Le mode hors ligne est activé : Enclave ne se connecte pas à Internet, la recherche et le téléchargement sont donc désactivés. La liste des modèles de départ ci-dessous indique tout de même ceux qui conviendraient à cet ordinateur.</translation>
    </message>
    <message>
      <source>Open Settings</source>
      <translation>Ouvrir les Paramètres</translation>
    </message>
    <message>
      <source>Recently updated</source>
      <translation>Mis à jour récemment</translation>
    </message>
    <message>
      <source>Recommended here: &lt;b&gt;{model}&lt;/b&gt; · {size} · {verdict} · {speed}. {good_for}</source>
      <translation>Recommandé ici : &lt;b&gt;{model}&lt;/b&gt; · {size} · {verdict} · {speed}. {good_for}</translation>
    </message>
    <message>
      <source>Recommended here: &lt;b&gt;{model}&lt;/b&gt; · {size} · {verdict}. {good_for}</source>
      <translation>Recommandé ici : &lt;b&gt;{model}&lt;/b&gt; · {size} · {verdict}. {good_for}</translation>
    </message>
    <message>
      <source>Search</source>
      <translation>Rechercher</translation>
    </message>
    <message>
      <source>Search for a model above, or pick one of the starter models.</source>
      <translation>Recherchez un modèle ci-dessus, ou choisissez l'un des modèles de départ.</translation>
    </message>
    <message>
      <source>Search models on Hugging Face</source>
      <translation>Rechercher des modèles sur Hugging Face</translation>
    </message>
    <message>
      <source>Search the models on Hugging Face, e.g. llama, qwen, mistral…</source>
      <translation>Rechercher parmi les modèles de Hugging Face, par ex. llama, qwen, mistral…</translation>
    </message>
    <message>
      <source>Searching Hugging Face…</source>
      <translation>Recherche sur Hugging Face…</translation>
    </message>
    <message>
      <source>The search failed: {error}</source>
      <translation>La recherche a échoué : {error}</translation>
    </message>
    <message>
      <source>Trending</source>
      <translation>Tendances</translation>
    </message>
    <message>
      <source>Try again</source>
      <translation>Réessayer</translation>
    </message>
    <message>
      <source>Your organisation allows none of the starter models.</source>
      <translation>Votre organisation n'autorise aucun des modèles de départ.</translation>
    </message>
    <message>
      <source>{model} could not be downloaded: {error}</source>
      <translation>Impossible de télécharger {model} : {error}</translation>
    </message>
  </context>
  <context>
    <name>discover_lists</name>
    <message>
      <source>Accept license first</source>
      <translation>Accepter d'abord la licence</translation>
    </message>
    <message>
      <source>Access</source>
      <translation>Accès</translation>
    </message>
    <message>
      <source>Author</source>
      <translation>Auteur</translation>
    </message>
    <message>
      <source>Checking…</source>
      <translation>Vérification…</translation>
    </message>
    <message>
      <source>Download</source>
      <translation>Télécharger</translation>
    </message>
    <message>
      <source>Download {file} ({size})</source>
      <translation>Télécharger {file} ({size})</translation>
    </message>
    <message>
      <source>Downloads</source>
      <translation>Téléchargements</translation>
    </message>
    <message>
      <source>Good for</source>
      <translation>Idéal pour</translation>
    </message>
    <message>
      <source>License</source>
      <translation>Licence</translation>
    </message>
    <message>
      <source>Likes</source>
      <translation>J'aime</translation>
    </message>
    <message>
      <source>Model</source>
      <translation>Modèle</translation>
    </message>
    <message>
      <source>On this computer</source>
      <translation>Sur cet ordinateur</translation>
    </message>
    <message>
      <source>Open</source>
      <translation>Ouvrir</translation>
    </message>
    <message>
      <source>Recommended models</source>
      <translation>Modèles recommandés</translation>
    </message>
    <message>
      <source>Search results</source>
      <translation>Résultats de la recherche</translation>
    </message>
    <message>
      <source>Size</source>
      <translation>Taille</translation>
    </message>
    <message>
      <source>Starter model</source>
      <translation>Modèle de départ</translation>
    </message>
    <message>
      <source>This computer's speed is not known.</source>
      <translation>La vitesse de cet ordinateur est inconnue.</translation>
    </message>
    <message>
      <source>Too large for this computer.</source>
      <translation>Trop volumineux pour cet ordinateur.</translation>
    </message>
    <message>
      <source>Unknown</source>
      <translation>Inconnu</translation>
    </message>
    <message>
      <source>Updated</source>
      <translation>Mis à jour</translation>
    </message>
    <message>
      <source>You must accept this model's license on Hugging Face first</source>
      <translation>Vous devez d'abord accepter la licence de ce modèle sur Hugging Face</translation>
    </message>
    <message>
      <source>{model} — click to see its files</source>
      <translation>{model} — cliquez pour voir ses fichiers</translation>
    </message>
    <message>
      <source>{model} — click to see its files and description</source>
      <translation>{model} — cliquez pour voir ses fichiers et sa description</translation>
    </message>
  </context>
  <context>
    <name>documents</name>
    <message>
      <source>Could not save the settings: {error}</source>
      <translation>Impossible d'enregistrer les paramètres : {error}</translation>
    </message>
    <message>
      <source>Documents</source>
      <translation>Documents</translation>
    </message>
    <message>
      <source>No collection yet.

Click “New collection…”, or drop a folder here.</source>
      <translation>Aucune collection pour l'instant.

Cliquez sur « Nouvelle collection… » ou déposez un dossier ici.</translation>
    </message>
    <message>
      <source>Put your files in a collection, then pick it in a conversation: the answers quote your documents and show where each fact comes from. Everything stays on this computer.</source>
      <translation>Rangez vos fichiers dans une collection, puis choisissez-la dans une conversation : les réponses citent vos documents et indiquent d'où vient chaque information. Tout reste sur cet ordinateur.</translation>
    </message>
    <message>
      <source>Your collections are being updated for the new embedding model.</source>
      <translation>Vos collections sont en cours de mise à jour pour le nouveau modèle de plongement.</translation>
    </message>
  </context>
  <context>
    <name>documents_actions</name>
    <message>
      <source>Add a folder</source>
      <translation>Ajouter un dossier</translation>
    </message>
    <message>
      <source>Add files</source>
      <translation>Ajouter des fichiers</translation>
    </message>
    <message>
      <source>Delete collection</source>
      <translation>Supprimer la collection</translation>
    </message>
    <message>
      <source>Delete the collection “{collection}”?

Your files stay where they are; only Enclave's index of them is removed.</source>
      <translation>Supprimer la collection « {collection} » ?

Vos fichiers restent où ils sont ; seul l'index créé par Enclave est supprimé.</translation>
    </message>
    <message>
      <source>Documents</source>
      <translation>Documents</translation>
    </message>
    <message>
      <source>Documents (*.pdf *.docx *.txt *.md *.markdown *.html *.htm *.csv);;All files (*)</source>
      <translation>Documents (*.pdf *.docx *.txt *.md *.markdown *.html *.htm *.csv);;Tous les fichiers (*)</translation>
    </message>
    <message>
      <source>Name of the collection:</source>
      <translation>Nom de la collection :</translation>
    </message>
    <message>
      <source>New collection</source>
      <translation>Nouvelle collection</translation>
    </message>
    <message>
      <source>New name:</source>
      <translation>Nouveau nom :</translation>
    </message>
    <message>
      <source>Please wait until indexing ends (or cancel it) to rename.</source>
      <translation>Attendez la fin de l'indexation (ou annulez-la) pour renommer.</translation>
    </message>
    <message>
      <source>Rename collection</source>
      <translation>Renommer la collection</translation>
    </message>
  </context>
  <context>
    <name>documents_collections_pane</name>
    <message>
      <source>Collections</source>
      <translation>Collections</translation>
    </message>
    <message>
      <source>Document collections</source>
      <translation>Collections de documents</translation>
    </message>
    <message>
      <source>New collection…</source>
      <translation>Nouvelle collection…</translation>
    </message>
    <message>
      <source>{collection}  ·  updating…</source>
      <translation>{collection}  ·  mise à jour…</translation>
    </message>
  </context>
  <context>
    <name>documents_details</name>
    <message numerus="yes">
      <source>%n could not be read</source>
      <translation>
        <numerusform>%n illisible</numerusform>
        <numerusform>%n illisibles</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n documents indexed</source>
      <translation>
        <numerusform>%n document indexé</numerusform>
        <numerusform>%n documents indexés</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n passages</source>
      <translation>
        <numerusform>%n passage</numerusform>
        <numerusform>%n passages</numerusform>
      </translation>
    </message>
    <message>
      <source>Add files…</source>
      <translation>Ajouter des fichiers…</translation>
    </message>
    <message>
      <source>Add folder…</source>
      <translation>Ajouter un dossier…</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>Annuler</translation>
    </message>
    <message>
      <source>Delete…</source>
      <translation>Supprimer…</translation>
    </message>
    <message>
      <source>Empty: add files or folders to this collection.</source>
      <translation>Vide : ajoutez des fichiers ou des dossiers à cette collection.</translation>
    </message>
    <message>
      <source>Indexing was stopped before the end</source>
      <translation>L'indexation a été arrêtée avant la fin</translation>
    </message>
    <message>
      <source>Preparing search: {done} of {total} passages</source>
      <translation>Préparation de la recherche : {done} passages sur {total}</translation>
    </message>
    <message>
      <source>Read again the files that changed since the last time</source>
      <translation>Relire les fichiers modifiés depuis la dernière fois</translation>
    </message>
    <message>
      <source>Reading files: {done} of {total}</source>
      <translation>Lecture des fichiers : {done} sur {total}</translation>
    </message>
    <message>
      <source>Remove from collection</source>
      <translation>Retirer de la collection</translation>
    </message>
    <message>
      <source>Rename…</source>
      <translation>Renommer…</translation>
    </message>
    <message>
      <source>Resume indexing</source>
      <translation>Reprendre l'indexation</translation>
    </message>
    <message>
      <source>Tip: drag files or folders from your file manager onto this page.</source>
      <translation>Astuce : faites glisser des fichiers ou des dossiers depuis votre gestionnaire de fichiers vers cette page.</translation>
    </message>
    <message>
      <source>Update now</source>
      <translation>Mettre à jour</translation>
    </message>
    <message>
      <source>Updating search for the new model: {done} of {total} passages</source>
      <translation>Préparation de la recherche pour le nouveau modèle : {done} passages sur {total}</translation>
    </message>
    <message>
      <source>about {hours} h left</source>
      <translation>encore {hours} h environ</translation>
    </message>
    <message>
      <source>about {minutes} min left</source>
      <translation>encore {minutes} min environ</translation>
    </message>
    <message>
      <source>about {seconds} s left</source>
      <translation>encore {seconds} s environ</translation>
    </message>
  </context>
  <context>
    <name>documents_embedding_bar</name>
    <message>
      <source>Choose an embedding model</source>
      <translation>Choisir un modèle de plongement</translation>
    </message>
    <message>
      <source>Choose model…</source>
      <translation>Choisir un modèle…</translation>
    </message>
    <message>
      <source>GGUF models (*.gguf)</source>
      <translation>Modèles GGUF (*.gguf)</translation>
    </message>
    <message>
      <source>No embedding model at {path}: keyword search (BM25) only.</source>
      <translation>Aucun modèle de plongement dans {path} : recherche par mots-clés (BM25) uniquement.</translation>
    </message>
    <message>
      <source>Search by meaning is off: its model file is missing ({file}). Search finds exact words only (keyword search).</source>
      <translation>La recherche par le sens est désactivée : le fichier de son modèle est introuvable ({file}). La recherche ne trouve que les mots exacts (recherche par mots-clés).</translation>
    </message>
    <message>
      <source>Search by meaning uses the built-in model {model} (an embedding model), and keywords: {path}</source>
      <translation>La recherche par le sens utilise le modèle intégré {model} (un modèle de plongement), ainsi que les mots-clés : {path}</translation>
    </message>
    <message>
      <source>Search by meaning uses your model {model} (an embedding model), and keywords: {path}</source>
      <translation>La recherche par le sens utilise votre modèle {model} (un modèle de plongement), ainsi que les mots-clés : {path}</translation>
    </message>
    <message>
      <source>Search finds what you ask about by its meaning, not only by the exact words.</source>
      <translation>La recherche trouve ce que vous demandez d'après le sens, pas seulement d'après les mots exacts.</translation>
    </message>
    <message>
      <source>Use built-in</source>
      <translation>Utiliser le modèle intégré</translation>
    </message>
  </context>
  <context>
    <name>documents_files</name>
    <message numerus="yes">
      <source>%n could not be read</source>
      <translation>
        <numerusform>%n illisible</numerusform>
        <numerusform>%n illisibles</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n indexed</source>
      <translation>
        <numerusform>%n indexé</numerusform>
        <numerusform>%n indexés</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n pages</source>
      <translation>
        <numerusform>%n page</numerusform>
        <numerusform>%n pages</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n partly indexed</source>
      <translation>
        <numerusform>%n partiellement indexé</numerusform>
        <numerusform>%n partiellement indexés</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n passages</source>
      <translation>
        <numerusform>%n passage</numerusform>
        <numerusform>%n passages</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n skipped</source>
      <translation>
        <numerusform>%n ignoré</numerusform>
        <numerusform>%n ignorés</numerusform>
      </translation>
    </message>
    <message>
      <source>Could not read</source>
      <translation>Illisible</translation>
    </message>
    <message>
      <source>Details</source>
      <translation>Détails</translation>
    </message>
    <message>
      <source>Folder</source>
      <translation>Dossier</translation>
    </message>
    <message>
      <source>Indexed</source>
      <translation>Indexé</translation>
    </message>
    <message>
      <source>Name</source>
      <translation>Nom</translation>
    </message>
    <message>
      <source>Not found (moved, deleted or unplugged?)</source>
      <translation>Introuvable (déplacé, supprimé ou débranché ?)</translation>
    </message>
    <message>
      <source>Not indexed yet</source>
      <translation>Pas encore indexé</translation>
    </message>
    <message>
      <source>Partly indexed</source>
      <translation>Partiellement indexé</translation>
    </message>
    <message>
      <source>Skipped</source>
      <translation>Ignoré</translation>
    </message>
    <message>
      <source>Status</source>
      <translation>État</translation>
    </message>
  </context>
  <context>
    <name>documents_indexing</name>
    <message>
      <source>the embedding model is missing ({file})</source>
      <translation>le modèle de plongement est introuvable ({file})</translation>
    </message>
    <message>
      <source>the engine is not available</source>
      <translation>le moteur n'est pas disponible</translation>
    </message>
    <message>
      <source>{file} could not be loaded</source>
      <translation>{file} n'a pas pu être chargé</translation>
    </message>
  </context>
  <context>
    <name>documents_indexing_feedback</name>
    <message>
      <source>Indexing failed: {reason}</source>
      <translation>L'indexation a échoué : {reason}</translation>
    </message>
    <message>
      <source>Indexing stopped. What was read so far is kept and already searchable; click “Resume indexing” to go on.</source>
      <translation>Indexation arrêtée. Ce qui a déjà été lu est conservé et peut déjà être recherché ; cliquez sur « Reprendre l'indexation » pour continuer.</translation>
    </message>
  </context>
  <context>
    <name>documents_model_offer</name>
    <message>
      <source>Downloading the multilingual model… {percent} %</source>
      <translation>Téléchargement du modèle multilingue… {percent} %</translation>
    </message>
    <message>
      <source>Downloads are not available here.</source>
      <translation>Le téléchargement n’est pas possible ici.</translation>
    </message>
    <message>
      <source>Get the multilingual model ({size})</source>
      <translation>Obtenir le modèle multilingue ({size})</translation>
    </message>
    <message>
      <source>Most of this collection is not in English. Search by meaning works better with the multilingual model ({languages}).</source>
      <translation>Cette collection n’est pas en anglais pour l’essentiel. La recherche par le sens fonctionne mieux avec le modèle multilingue ({languages}).</translation>
    </message>
    <message>
      <source>The multilingual model could not be downloaded: {error}</source>
      <translation>Le modèle multilingue n’a pas pu être téléchargé : {error}</translation>
    </message>
    <message>
      <source>Use the multilingual model</source>
      <translation>Utiliser le modèle multilingue</translation>
    </message>
    <message>
      <source>{model}: {languages}, {size} download</source>
      <translation>{model} : {languages}, {size} à télécharger</translation>
    </message>
  </context>
  <context>
    <name>downloads_panel</name>
    <message>
      <source>Cancel</source>
      <translation>Annuler</translation>
    </message>
    <message>
      <source>Cancelled</source>
      <translation>Annulé</translation>
    </message>
    <message>
      <source>Checking the file…</source>
      <translation>Vérification du fichier…</translation>
    </message>
    <message>
      <source>Connection problem; trying again</source>
      <translation>Problème de connexion ; nouvelle tentative</translation>
    </message>
    <message>
      <source>Downloaded — it is in your Library</source>
      <translation>Téléchargé — disponible dans votre Bibliothèque</translation>
    </message>
    <message>
      <source>Downloading…</source>
      <translation>Téléchargement…</translation>
    </message>
    <message>
      <source>Downloads</source>
      <translation>Téléchargements</translation>
    </message>
    <message>
      <source>Open Library</source>
      <translation>Ouvrir la Bibliothèque</translation>
    </message>
    <message>
      <source>Pause</source>
      <translation>Suspendre</translation>
    </message>
    <message>
      <source>Paused</source>
      <translation>Suspendu</translation>
    </message>
    <message>
      <source>Quality: {quality}</source>
      <translation>Qualité : {quality}</translation>
    </message>
    <message>
      <source>Remove from list</source>
      <translation>Retirer de la liste</translation>
    </message>
    <message>
      <source>Resume</source>
      <translation>Reprendre</translation>
    </message>
    <message>
      <source>Starting…</source>
      <translation>Démarrage…</translation>
    </message>
    <message>
      <source>The download failed.</source>
      <translation>Le téléchargement a échoué.</translation>
    </message>
    <message>
      <source>Try again</source>
      <translation>Réessayer</translation>
    </message>
    <message>
      <source>Waiting to start</source>
      <translation>En attente de démarrage</translation>
    </message>
    <message>
      <source>Waiting. {reason}</source>
      <translation>En attente. {reason}</translation>
    </message>
    <message>
      <source>Waiting: offline mode is on (turn it off in Settings to download)</source>
      <translation>En attente : le mode hors ligne est activé (désactivez-le dans les Paramètres pour télécharger)</translation>
    </message>
    <message>
      <source>{done} of {total}</source>
      <translation>{done} sur {total}</translation>
    </message>
    <message>
      <source>{file}
from {publisher}</source>
      <translation>{file}
de {publisher}</translation>
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
      <translation>Le modèle d'ébauche {name} n'a pas pu être chargé : les réponses se font sans lui.</translation>
    </message>
    <message>
      <source>The draft model {name} does not share this model's vocabulary, so answers come without it.</source>
      <translation>Le modèle d'ébauche {name} n'a pas le vocabulaire de ce modèle : les réponses se font sans lui.</translation>
    </message>
  </context>
  <context>
    <name>embedding_models</name>
    <message>
      <source>English</source>
      <translation>anglais</translation>
    </message>
    <message>
      <source>about 100 languages</source>
      <translation>environ 100 langues</translation>
    </message>
    <message>
      <source>more than 100 languages</source>
      <translation>plus de 100 langues</translation>
    </message>
  </context>
  <context>
    <name>errors</name>
    <message>
      <source>Could not reach Hugging Face. Check your internet connection and try again.</source>
      <translation>Impossible de joindre Hugging Face. Vérifiez votre connexion Internet et réessayez.</translation>
    </message>
    <message>
      <source>Could not reach Hugging Face. Check your internet connection and try again. ({detail})</source>
      <translation>Impossible de joindre Hugging Face. Vérifiez votre connexion Internet et réessayez. ({detail})</translation>
    </message>
    <message>
      <source>Download cancelled.</source>
      <translation>Téléchargement annulé.</translation>
    </message>
    <message>
      <source>Download paused.</source>
      <translation>Téléchargement suspendu.</translation>
    </message>
    <message>
      <source>Download waiting: Enclave is offline.</source>
      <translation>Téléchargement en attente : Enclave est hors ligne.</translation>
    </message>
    <message>
      <source>Enclave cannot reach Hugging Face. Check your internet connection, or turn on offline mode in Settings to work with the models already on this computer.</source>
      <translation>Enclave ne parvient pas à joindre Hugging Face. Vérifiez votre connexion Internet, ou activez le mode hors ligne dans les Paramètres pour utiliser les modèles déjà présents sur cet ordinateur.</translation>
    </message>
    <message>
      <source>Enclave connected through the proxy {proxy}, but could not trust the security certificate it was shown for {host}: {why}. Your company's proxy probably inspects secure connections; ask your IT department to add the company certificate to this computer's certificate store, then try again.</source>
      <translation>Enclave s'est connecté via le proxy {proxy}, mais n'a pas pu faire confiance au certificat de sécurité présenté pour {host} : {why}. Le proxy de votre entreprise inspecte probablement les connexions sécurisées ; demandez à votre service informatique d'ajouter le certificat de l'entreprise au magasin de certificats de cet ordinateur, puis réessayez.</translation>
    </message>
    <message>
      <source>Enclave could not connect to the proxy {proxy} that this computer is set to use. Check the proxy settings, or ask your IT department, then try again.</source>
      <translation>Enclave n'a pas pu se connecter au proxy {proxy} que cet ordinateur est configuré pour utiliser. Vérifiez les paramètres du proxy ou adressez-vous à votre service informatique, puis réessayez.</translation>
    </message>
    <message>
      <source>Enclave could not trust the security certificate of {host}: {why}. If your company inspects secure connections, ask your IT department to add the company certificate to this computer's certificate store, then try again.</source>
      <translation>Enclave n'a pas pu faire confiance au certificat de sécurité de {host} : {why}. Si votre entreprise inspecte les connexions sécurisées, demandez à votre service informatique d'ajouter le certificat de l'entreprise au magasin de certificats de cet ordinateur, puis réessayez.</translation>
    </message>
    <message>
      <source>Not enough disk space: this model needs {needed} but only {free} is free in {folder}. Free some space or choose another models folder in Settings.</source>
      <translation>Espace disque insuffisant : ce modèle nécessite {needed}, mais il ne reste que {free} de libre dans {folder}. Libérez de l'espace ou choisissez un autre dossier des modèles dans les Paramètres.</translation>
    </message>
    <message>
      <source>Offline mode is on for this computer (HF_HUB_OFFLINE is set), so Enclave does not connect to the internet. The models already on this computer work as usual.</source>
      <translation>Le mode hors ligne est activé pour cet ordinateur (HF_HUB_OFFLINE est défini) : Enclave ne se connecte donc pas à Internet. Les modèles déjà présents sur cet ordinateur fonctionnent normalement.</translation>
    </message>
    <message>
      <source>Offline mode is on, so Enclave does not connect to the internet. Turn it off in Settings to search or download models.</source>
      <translation>Le mode hors ligne est activé : Enclave ne se connecte donc pas à Internet. Désactivez-le dans les Paramètres pour rechercher ou télécharger des modèles.</translation>
    </message>
    <message>
      <source>Refused to save {name}: that name would put the file outside the models folder.</source>
      <translation>Enregistrement de {name} refusé : ce nom placerait le fichier en dehors du dossier des modèles.</translation>
    </message>
    <message>
      <source>The disk is full: the model could not be written to {folder}. What was downloaded so far is kept; free some space, then resume the download.</source>
      <translation>Le disque est plein : le modèle n'a pas pu être écrit dans {folder}. La partie déjà téléchargée est conservée ; libérez de l'espace, puis reprenez le téléchargement.</translation>
    </message>
    <message>
      <source>The downloaded file {file} is damaged: its checksum does not match the one Hugging Face published. It was deleted and not added to your models; please download it again.</source>
      <translation>Le fichier téléchargé {file} est endommagé : sa somme de contrôle ne correspond pas à celle publiée par Hugging Face. Il a été supprimé et n'a pas été ajouté à vos modèles ; veuillez le télécharger à nouveau.</translation>
    </message>
    <message>
      <source>The proxy {proxy} asks for a user name and password that Enclave does not have. Ask your IT department, or put them into the proxy address (HTTPS_PROXY=http://name:password@host:port), then try again.</source>
      <translation>Le proxy {proxy} demande un nom d'utilisateur et un mot de passe qu'Enclave ne connaît pas. Adressez-vous à votre service informatique, ou ajoutez-les à l'adresse du proxy (HTTPS_PROXY=http://name:password@host:port), puis réessayez.</translation>
    </message>
    <message>
      <source>The proxy {proxy} refused the connection to {host} (it answered {status}). Ask your IT department whether Hugging Face may be reached through it.</source>
      <translation>Le proxy {proxy} a refusé la connexion à {host} (réponse : {status}). Demandez à votre service informatique si Hugging Face est accessible par ce proxy.</translation>
    </message>
    <message>
      <source>Your organisation has set Enclave to work offline, so it does not connect to the internet. The models already on this computer work as usual.</source>
      <translation>Votre organisation a configuré Enclave pour fonctionner hors ligne : il ne se connecte donc pas à Internet. Les modèles déjà présents sur cet ordinateur fonctionnent normalement.</translation>
    </message>
    <message>
      <source>Your organisation has switched model downloads off in Enclave. Ask your IT department for the model you need.</source>
      <translation>Votre organisation a désactivé le téléchargement de modèles dans Enclave. Demandez le modèle dont vous avez besoin à votre service informatique.</translation>
    </message>
  </context>
  <context>
    <name>export</name>
    <message>
      <source>## System prompt</source>
      <translation>## Consignes au modèle</translation>
    </message>
    <message numerus="yes">
      <source>%n tokens</source>
      <translation>
        <numerusform>%n jeton</numerusform>
        <numerusform>%n jetons</numerusform>
      </translation>
    </message>
    <message>
      <source>*(empty)*</source>
      <translation>*(vide)*</translation>
    </message>
    <message>
      <source>- Model: {file}</source>
      <translation>- Modèle : {file}</translation>
    </message>
    <message>
      <source>- Started: {when}</source>
      <translation>- Début : {when}</translation>
    </message>
    <message>
      <source>Assistant</source>
      <translation>Assistant</translation>
    </message>
    <message>
      <source>Conversation</source>
      <translation>Conversation</translation>
    </message>
    <message>
      <source>Could not read {file}: {reason}.</source>
      <translation>Impossible de lire {file} : {reason}.</translation>
    </message>
    <message>
      <source>Imported chat</source>
      <translation>Conversation importée</translation>
    </message>
    <message>
      <source>Message {number} has an unknown status {status}.</source>
      <translation>Le message {number} a un état inconnu : {status}.</translation>
    </message>
    <message>
      <source>Message {number} has no text content.</source>
      <translation>Le message {number} n'a pas de contenu texte.</translation>
    </message>
    <message>
      <source>Message {number} has no “id” of its own.</source>
      <translation>Le message {number} n'a pas son propre « id ».</translation>
    </message>
    <message>
      <source>Message {number} has the role {role}; expected user, assistant or system.</source>
      <translation>Le message {number} a le rôle {role} ; attendu : user, assistant ou system.</translation>
    </message>
    <message>
      <source>Message {number} is not an object with a role and content.</source>
      <translation>Le message {number} n'est pas un objet avec un rôle et un contenu.</translation>
    </message>
    <message>
      <source>Message {number}: its “parent” is not a message before it.</source>
      <translation>Message {number} : son « parent » n'est pas un message qui le précède.</translation>
    </message>
    <message>
      <source>Message {number}: “created_at” should be a number of seconds.</source>
      <translation>Message {number} : « created_at » doit être un nombre de secondes.</translation>
    </message>
    <message>
      <source>Message {number}: “stats” should be an object.</source>
      <translation>Message {number} : « stats » doit être un objet.</translation>
    </message>
    <message>
      <source>New chat</source>
      <translation>Nouvelle conversation</translation>
    </message>
    <message>
      <source>System</source>
      <translation>Système</translation>
    </message>
    <message>
      <source>The file has no list of messages.</source>
      <translation>Le fichier ne contient pas de liste de messages.</translation>
    </message>
    <message>
      <source>The file has too many messages ({count}).</source>
      <translation>Le fichier contient trop de messages ({count}).</translation>
    </message>
    <message>
      <source>The file: “current” is not one of its messages.</source>
      <translation>Le fichier : « current » ne désigne aucun de ses messages.</translation>
    </message>
    <message>
      <source>The file: “settings” should be an object.</source>
      <translation>Le fichier : « settings » doit être un objet.</translation>
    </message>
    <message>
      <source>The file: “{key}” should be text.</source>
      <translation>Le fichier : « {key} » doit être du texte.</translation>
    </message>
    <message>
      <source>There is no conversation {number}.</source>
      <translation>La conversation {number} n'existe pas.</translation>
    </message>
    <message>
      <source>This conversation file has no version number.</source>
      <translation>Ce fichier de conversation n'a pas de numéro de version.</translation>
    </message>
    <message>
      <source>This conversation was saved by a newer Enclave (format version {version}); update Enclave to open it.</source>
      <translation>Cette conversation a été enregistrée par une version plus récente d'Enclave (version de format {version}) ; mettez Enclave à jour pour l'ouvrir.</translation>
    </message>
    <message>
      <source>This file is not an Enclave conversation (expected a JSON object).</source>
      <translation>Ce fichier n'est pas une conversation Enclave (un objet JSON était attendu).</translation>
    </message>
    <message>
      <source>This file is not an Enclave conversation (its “format” is missing or different).</source>
      <translation>Ce fichier n'est pas une conversation Enclave (son « format » est absent ou différent).</translation>
    </message>
    <message>
      <source>Unknown conversation format version {version}.</source>
      <translation>Version de format de conversation inconnue : {version}.</translation>
    </message>
    <message>
      <source>You</source>
      <translation>Vous</translation>
    </message>
    <message>
      <source>failed</source>
      <translation>échec</translation>
    </message>
    <message>
      <source>first token {milliseconds} ms</source>
      <translation>premier jeton : {milliseconds} ms</translation>
    </message>
    <message>
      <source>interrupted</source>
      <translation>interrompue</translation>
    </message>
    <message>
      <source>still being written</source>
      <translation>en cours de rédaction</translation>
    </message>
    <message>
      <source>stopped by the user</source>
      <translation>arrêtée par l'utilisateur</translation>
    </message>
    <message>
      <source>{file} is not a JSON file.</source>
      <translation>{file} n'est pas un fichier JSON.</translation>
    </message>
    <message>
      <source>{rate} tokens/s</source>
      <translation>{rate} jetons/s</translation>
    </message>
  </context>
  <context>
    <name>extract</name>
    <message numerus="yes">
      <source>%n scanned pages read with OCR (text recognition can misread words)</source>
      <translation>
        <numerusform>%n page numérisée lue par OCR (la reconnaissance de texte peut mal lire certains mots)</numerusform>
        <numerusform>%n pages numérisées lues par OCR (la reconnaissance de texte peut mal lire certains mots)</numerusform>
      </translation>
    </message>
    <message>
      <source>1 scanned page read with OCR (text recognition can misread words)</source>
      <translation>1 page numérisée lue par OCR (la reconnaissance de texte peut mal lire certains mots)</translation>
    </message>
    <message>
      <source>OpenDocument presentation</source>
      <translation>Présentation OpenDocument</translation>
    </message>
    <message>
      <source>OpenDocument spreadsheet</source>
      <translation>Classeur OpenDocument</translation>
    </message>
    <message>
      <source>OpenDocument text</source>
      <translation>Texte OpenDocument</translation>
    </message>
    <message>
      <source>Outlook message</source>
      <translation>Message Outlook</translation>
    </message>
    <message>
      <source>cannot read the file ({reason})</source>
      <translation>impossible de lire le fichier ({reason})</translation>
    </message>
    <message>
      <source>e-mail</source>
      <translation>e-mail</translation>
    </message>
    <message>
      <source>it could not be opened</source>
      <translation>impossible de l'ouvrir</translation>
    </message>
    <message>
      <source>no extension</source>
      <translation>sans extension</translation>
    </message>
    <message>
      <source>no readable text found, not even in the scanned pages</source>
      <translation>aucun texte lisible trouvé, même dans les pages numérisées</translation>
    </message>
    <message>
      <source>no text found</source>
      <translation>aucun texte trouvé</translation>
    </message>
    <message>
      <source>no text found (a scanned PDF: turn on reading scanned pages in Settings)</source>
      <translation>aucun texte trouvé (PDF numérisé : activez la lecture des pages numérisées dans les Paramètres)</translation>
    </message>
    <message>
      <source>only the first {count} characters are searchable (the file is longer)</source>
      <translation>seuls les {count} premiers caractères sont pris en compte par la recherche (le fichier est plus long)</translation>
    </message>
    <message>
      <source>only the first {shown} of {total} chapters are searchable</source>
      <translation>seuls les {shown} premiers chapitres sur {total} sont pris en compte par la recherche</translation>
    </message>
    <message>
      <source>only the first {shown} of {total} pages are searchable</source>
      <translation>seules les {shown} premières pages sur {total} sont prises en compte par la recherche</translation>
    </message>
    <message>
      <source>only the first {shown} of {total} slides are searchable</source>
      <translation>seules les {shown} premières diapositives sur {total} sont prises en compte par la recherche</translation>
    </message>
    <message>
      <source>picture</source>
      <translation>image</translation>
    </message>
    <message>
      <source>reading scanned page {page} of {pages} with OCR</source>
      <translation>lecture par OCR de la page numérisée {page} sur {pages}</translation>
    </message>
    <message>
      <source>reading stopped after {seconds} seconds; only the part read by then is searchable</source>
      <translation>lecture arrêtée après {seconds} secondes ; seule la partie déjà lue est prise en compte par la recherche</translation>
    </message>
    <message>
      <source>text</source>
      <translation>texte</translation>
    </message>
    <message>
      <source>the PDF is password-protected</source>
      <translation>le PDF est protégé par un mot de passe</translation>
    </message>
    <message>
      <source>the PDF uses an unsupported protection</source>
      <translation>le PDF utilise une protection non prise en charge</translation>
    </message>
    <message>
      <source>the file is empty</source>
      <translation>le fichier est vide</translation>
    </message>
    <message>
      <source>the {format} file is nested too deeply to read</source>
      <translation>le fichier {format} comporte trop de niveaux imbriqués pour être lu</translation>
    </message>
    <message>
      <source>the {format} file looks damaged</source>
      <translation>le fichier {format} semble endommagé</translation>
    </message>
    <message>
      <source>the {format} file needs too much memory to read</source>
      <translation>le fichier {format} demande trop de mémoire pour être lu</translation>
    </message>
    <message>
      <source>too large ({size} MB; the limit is {limit} MB)</source>
      <translation>trop volumineux ({size} Mo ; la limite est de {limit} Mo)</translation>
    </message>
    <message>
      <source>unsupported format</source>
      <translation>format non pris en charge</translation>
    </message>
    <message>
      <source>unsupported format ({extension})</source>
      <translation>format non pris en charge ({extension})</translation>
    </message>
  </context>
  <context>
    <name>fit</name>
    <message>
      <source>Enclave could not tell whether this model fits this computer.</source>
      <translation>Enclave n'a pas pu déterminer si ce modèle convient à cet ordinateur.</translation>
    </message>
  </context>
  <context>
    <name>gguf_facts</name>
    <message>
      <source>Enclave is not allowed to read {file}.</source>
      <translation>Enclave n'a pas l'autorisation de lire {file}.</translation>
    </message>
    <message>
      <source>The file {file} could not be read ({reason}).</source>
      <translation>Le fichier {file} n'a pas pu être lu ({reason}).</translation>
    </message>
    <message>
      <source>The file {file} does not exist.</source>
      <translation>Le fichier {file} n'existe pas.</translation>
    </message>
    <message>
      <source>This GGUF file does not say which model architecture it holds.</source>
      <translation>Ce fichier GGUF n'indique pas l'architecture du modèle qu'il contient.</translation>
    </message>
    <message>
      <source>This GGUF file uses format version {version}, which Enclave cannot read (it may be damaged, or made for a much newer or older program).</source>
      <translation>Ce fichier GGUF utilise la version de format {version}, qu'Enclave ne sait pas lire (il est peut-être endommagé, ou conçu pour un programme beaucoup plus récent ou plus ancien).</translation>
    </message>
    <message>
      <source>This file is empty; it is not a GGUF model.</source>
      <translation>Ce fichier est vide ; ce n'est pas un modèle GGUF.</translation>
    </message>
    <message>
      <source>This file is not a GGUF model.</source>
      <translation>Ce fichier n'est pas un modèle GGUF.</translation>
    </message>
    <message>
      <source>This model file asks for a way of pooling embeddings (number {pooling}) that the engine does not know; it is damaged or made for a newer engine.</source>
      <translation>Ce fichier de modèle demande une méthode de regroupement (pooling) des plongements (numéro {pooling}) que le moteur ne connaît pas ; il est endommagé ou conçu pour un moteur plus récent.</translation>
    </message>
    <message>
      <source>This model file is damaged or empty: it holds no weights.</source>
      <translation>Ce fichier de modèle est endommagé ou vide : il ne contient aucun poids.</translation>
    </message>
    <message>
      <source>This model file is damaged: it does not say how many layers the model has.</source>
      <translation>Ce fichier de modèle est endommagé : il n'indique pas le nombre de couches du modèle.</translation>
    </message>
    <message>
      <source>This model file is damaged: it says the model has {layers} layers.</source>
      <translation>Ce fichier de modèle est endommagé : il indique que le modèle a {layers} couches.</translation>
    </message>
    <message>
      <source>This model file is damaged: it says the model reads {tokens} tokens at once.</source>
      <translation>Ce fichier de modèle est endommagé : il indique que le modèle lit {tokens} jetons à la fois.</translation>
    </message>
    <message>
      <source>This model file is damaged: its description holds values that make no sense.</source>
      <translation>Ce fichier de modèle est endommagé : sa description contient des valeurs incohérentes.</translation>
    </message>
    <message>
      <source>This model file is damaged: its header announces more entries than the file can hold.</source>
      <translation>Ce fichier de modèle est endommagé : son en-tête annonce plus d'entrées que le fichier ne peut en contenir.</translation>
    </message>
    <message>
      <source>This model file is damaged: its list of tensors points far past the end of the file.</source>
      <translation>Ce fichier de modèle est endommagé : sa liste de tenseurs pointe bien au-delà de la fin du fichier.</translation>
    </message>
    <message>
      <source>This model file is damaged: its {what} is negative.</source>
      <translation>Ce fichier de modèle est endommagé : la valeur « {what} » est négative.</translation>
    </message>
    <message>
      <source>This model file is damaged: one of its normalisation settings is not a valid number.</source>
      <translation>Ce fichier de modèle est endommagé : l'un de ses paramètres de normalisation n'est pas un nombre valide.</translation>
    </message>
    <message>
      <source>This model file is incomplete (truncated) or damaged: its header could not be read.</source>
      <translation>Ce fichier de modèle est incomplet (tronqué) ou endommagé : son en-tête n'a pas pu être lu.</translation>
    </message>
    <message>
      <source>This model file is incomplete (truncated): it has {have} of the {need} it needs. Download it again.</source>
      <translation>Ce fichier de modèle est incomplet (tronqué) : il ne contient que {have} sur les {need} nécessaires. Téléchargez-le à nouveau.</translation>
    </message>
    <message>
      <source>This model file is incomplete (truncated): it stops in its first bytes.</source>
      <translation>Ce fichier de modèle est incomplet (tronqué) : il s'arrête dès ses premiers octets.</translation>
    </message>
    <message>
      <source>This model file is incomplete (truncated): it stops inside its header. Download it again.</source>
      <translation>Ce fichier de modèle est incomplet (tronqué) : il s'arrête au milieu de son en-tête. Téléchargez-le à nouveau.</translation>
    </message>
    <message>
      <source>context length</source>
      <translation>longueur de contexte</translation>
    </message>
    <message>
      <source>embedding size</source>
      <translation>taille des plongements</translation>
    </message>
    <message>
      <source>feed-forward size</source>
      <translation>taille de la couche feed-forward</translation>
    </message>
    <message>
      <source>input/output error</source>
      <translation>erreur d'entrée/sortie</translation>
    </message>
    <message>
      <source>key length</source>
      <translation>longueur des clés</translation>
    </message>
    <message>
      <source>number of attention heads</source>
      <translation>nombre de têtes d'attention</translation>
    </message>
    <message>
      <source>number of key/value heads</source>
      <translation>nombre de têtes clé/valeur</translation>
    </message>
    <message>
      <source>sliding window</source>
      <translation>fenêtre glissante</translation>
    </message>
    <message>
      <source>value length</source>
      <translation>longueur des valeurs</translation>
    </message>
    <message>
      <source>vocabulary size</source>
      <translation>taille du vocabulaire</translation>
    </message>
    <message>
      <source>{count} bytes</source>
      <translation>{count} octets</translation>
    </message>
    <message>
      <source>{file} is a folder, not a model file.</source>
      <translation>{file} est un dossier, pas un fichier de modèle.</translation>
    </message>
    <message>
      <source>{size} GB</source>
      <translation>{size} Go</translation>
    </message>
    <message>
      <source>{size} KB</source>
      <translation>{size} Ko</translation>
    </message>
    <message>
      <source>{size} MB</source>
      <translation>{size} Mo</translation>
    </message>
  </context>
  <context>
    <name>gpu_setting</name>
    <message>
      <source>Automatic</source>
      <translation>Automatique</translation>
    </message>
    <message>
      <source>Automatic puts a model on the one graphics card that holds it, or shares it between all of them when none does. Applies the next time a model loads.</source>
      <translation>Automatique place un modèle sur la carte graphique qui peut le contenir, ou le répartit entre toutes quand aucune n'y suffit seule. S'applique au prochain chargement d'un modèle.</translation>
    </message>
    <message>
      <source>Graphics card the models run on</source>
      <translation>Carte graphique sur laquelle les modèles fonctionnent</translation>
    </message>
    <message>
      <source>Graphics card:</source>
      <translation>Carte graphique :</translation>
    </message>
    <message>
      <source>{name} ({free} GB free)</source>
      <translation>{name} ({free} Go libres)</translation>
    </message>
  </context>
  <context>
    <name>guards</name>
    <message>
      <source>the document is password-protected</source>
      <translation>le document est protégé par un mot de passe</translation>
    </message>
    <message>
      <source>the {format} file holds {parts} parts (the limit is {limit}); it may be built to overload the computer</source>
      <translation>le fichier {format} contient {parts} parties (la limite est de {limit}) ; il a peut-être été conçu pour surcharger l'ordinateur</translation>
    </message>
    <message>
      <source>the {format} file would unpack to {unpacked} from {packed} (a 'zip bomb'); not opened</source>
      <translation>le fichier {format} passerait de {packed} à {unpacked} une fois décompressé (une « bombe zip ») ; il n'a pas été ouvert</translation>
    </message>
    <message>
      <source>the {format} file would unpack to {unpacked}; the limit is {limit}</source>
      <translation>le fichier {format} atteindrait {unpacked} une fois décompressé ; la limite est de {limit}</translation>
    </message>
    <message>
      <source>{size} GB</source>
      <translation>{size} Go</translation>
    </message>
    <message>
      <source>{size} KB</source>
      <translation>{size} Ko</translation>
    </message>
    <message>
      <source>{size} MB</source>
      <translation>{size} Mo</translation>
    </message>
  </context>
  <context>
    <name>hardware</name>
    <message>
      <source>Could not read the NVIDIA GPU ({reason}); models will run on the CPU.</source>
      <translation>Impossible de lire le GPU NVIDIA ({reason}) ; les modèles fonctionneront sur le CPU.</translation>
    </message>
    <message>
      <source>GPU {number} could not be read ({reason}) and is left out.</source>
      <translation>Le GPU {number} n'a pas pu être lu ({reason}) et n'est pas pris en compte.</translation>
    </message>
    <message>
      <source>No NVIDIA GPU driver found; the model will run on the CPU.</source>
      <translation>Aucun pilote de GPU NVIDIA trouvé ; le modèle fonctionnera sur le CPU.</translation>
    </message>
    <message>
      <source>Other graphics cards could not be checked ({reason}).</source>
      <translation>Les autres cartes graphiques n'ont pas pu être vérifiées ({reason}).</translation>
    </message>
    <message>
      <source>The NVIDIA GPU library (nvidia-ml-py) is not installed; using the CPU.</source>
      <translation>La bibliothèque GPU NVIDIA (nvidia-ml-py) n'est pas installée ; utilisation du CPU.</translation>
    </message>
    <message>
      <source>The NVIDIA driver reports no GPU; the model will run on the CPU.</source>
      <translation>Le pilote NVIDIA ne signale aucun GPU ; le modèle fonctionnera sur le CPU.</translation>
    </message>
  </context>
  <context>
    <name>host</name>
    <message>
      <source>Embedding failed: {error}</source>
      <translation>Le calcul des plongements a échoué : {error}</translation>
    </message>
    <message>
      <source>Loading was cancelled.</source>
      <translation>Le chargement a été annulé.</translation>
    </message>
    <message>
      <source>No model is loaded.</source>
      <translation>Aucun modèle n'est chargé.</translation>
    </message>
    <message>
      <source>The engine failed on this request; the engine log has the details.</source>
      <translation>Le moteur a échoué sur cette requête ; le journal du moteur contient les détails.</translation>
    </message>
    <message>
      <source>The engine failed while answering: {error}</source>
      <translation>Le moteur a échoué pendant la réponse : {error}</translation>
    </message>
    <message>
      <source>The file {path} is not there.</source>
      <translation>Le fichier {path} est introuvable.</translation>
    </message>
    <message>
      <source>The model engine could not start: its processor library is missing or does not run on this computer ({error}). Reinstalling Enclave usually fixes this.</source>
      <translation>Le moteur du modèle n'a pas pu démarrer : sa bibliothèque pour le processeur manque ou ne fonctionne pas sur cet ordinateur ({error}). Réinstaller Enclave règle généralement le problème.</translation>
    </message>
    <message>
      <source>The model engine could not start: {error}</source>
      <translation>Le moteur du modèle n'a pas pu démarrer : {error}</translation>
    </message>
    <message>
      <source>{problem} Enclave uses the standard “{format}” format for this model instead.</source>
      <translation>{problem} Enclave utilise à la place le format standard « {format} » pour ce modèle.</translation>
    </message>
  </context>
  <context>
    <name>host_load</name>
    <message>
      <source>The engine could not load {name}: the file may be damaged, or made for a newer engine. The engine log has the details.</source>
      <translation>Le moteur n'a pas pu charger {name} : le fichier est peut-être endommagé, ou conçu pour un moteur plus récent. Le journal du moteur contient les détails.</translation>
    </message>
    <message>
      <source>The model file {name} is damaged, or made by a converter this engine does not understand: it lacks the setting '{what}' its model type needs.</source>
      <translation>Le fichier de modèle {name} est endommagé, ou produit par un convertisseur que ce moteur ne comprend pas : il lui manque le paramètre « {what} » dont son type de modèle a besoin.</translation>
    </message>
    <message>
      <source>The model file {name} is damaged, or made by a converter this engine does not understand: it lists the same tensor twice.</source>
      <translation>Le fichier de modèle {name} est endommagé, ou produit par un convertisseur que ce moteur ne comprend pas : il liste deux fois le même tenseur.</translation>
    </message>
    <message>
      <source>The model file {name} is damaged, or made by a converter this engine does not understand: its setting '{what}' has the wrong kind of value.</source>
      <translation>Le fichier de modèle {name} est endommagé, ou produit par un convertisseur que ce moteur ne comprend pas : son paramètre « {what} » a un type de valeur incorrect.</translation>
    </message>
    <message>
      <source>The model file {name} is damaged, or made by a converter this engine does not understand: its tensor '{what}' does not have the shape its description promises.</source>
      <translation>Le fichier de modèle {name} est endommagé, ou produit par un convertisseur que ce moteur ne comprend pas : son tenseur « {what} » n'a pas la forme promise par sa description.</translation>
    </message>
    <message>
      <source>The model file {name} is damaged, or made by a converter this engine does not understand: its tensor data is not where its header says.</source>
      <translation>Le fichier de modèle {name} est endommagé, ou produit par un convertisseur que ce moteur ne comprend pas : les données de ses tenseurs ne sont pas à l'endroit indiqué par son en-tête.</translation>
    </message>
    <message>
      <source>The model file {name} is damaged, or made by a converter this engine does not understand: one of its settings has the wrong number of values.</source>
      <translation>Le fichier de modèle {name} est endommagé, ou produit par un convertisseur que ce moteur ne comprend pas : l'un de ses paramètres n'a pas le bon nombre de valeurs.</translation>
    </message>
    <message>
      <source>The model file {name} is damaged, or made by a converter this engine does not understand: the tensor '{what}' that its model type needs is missing.</source>
      <translation>Le fichier de modèle {name} est endommagé, ou produit par un convertisseur que ce moteur ne comprend pas : le tenseur « {what} » dont son type de modèle a besoin est absent.</translation>
    </message>
    <message>
      <source>The model file {name} is incomplete or damaged (truncated download?).</source>
      <translation>Le fichier de modèle {name} est incomplet ou endommagé (téléchargement interrompu ?).</translation>
    </message>
    <message>
      <source>The model file {name} is incomplete or damaged: its tensor '{what}' runs past the end of the file.</source>
      <translation>Le fichier de modèle {name} est incomplet ou endommagé : son tenseur « {what} » dépasse la fin du fichier.</translation>
    </message>
    <message>
      <source>The model file {name} is not a GGUF model file.</source>
      <translation>Le fichier de modèle {name} n'est pas un fichier de modèle GGUF.</translation>
    </message>
    <message>
      <source>The model file {name} uses a model type ('{arch}') that this version of the engine cannot run yet.</source>
      <translation>Le fichier de modèle {name} utilise un type de modèle (« {arch} ») que cette version du moteur ne sait pas encore exécuter.</translation>
    </message>
    <message>
      <source>The model file {name} uses a model type that this version of the engine cannot run yet.</source>
      <translation>Le fichier de modèle {name} utilise un type de modèle que cette version du moteur ne sait pas encore exécuter.</translation>
    </message>
    <message>
      <source>The model file {name} uses a number format (for tensor '{what}') this engine does not know.</source>
      <translation>Le fichier de modèle {name} utilise un format de nombres (pour le tenseur « {what} ») que ce moteur ne connaît pas.</translation>
    </message>
    <message>
      <source>The model file {name} uses a number format this engine does not know.</source>
      <translation>Le fichier de modèle {name} utilise un format de nombres que ce moteur ne connaît pas.</translation>
    </message>
    <message>
      <source>There was not enough memory to load {name}. Try a smaller model or context size.</source>
      <translation>La mémoire était insuffisante pour charger {name}. Essayez un modèle plus petit ou une taille de contexte plus petite.</translation>
    </message>
  </context>
  <context>
    <name>hub</name>
    <message>
      <source>Something went wrong talking to Hugging Face: {problem}</source>
      <translation>Un problème est survenu lors de la communication avec Hugging Face : {problem}</translation>
    </message>
    <message>
      <source>That file in {model} was not found on Hugging Face. Check the name and try again.</source>
      <translation>Ce fichier de {model} est introuvable sur Hugging Face. Vérifiez le nom et réessayez.</translation>
    </message>
    <message>
      <source>That version of {model} was not found on Hugging Face. Check the name and try again.</source>
      <translation>Cette version de {model} est introuvable sur Hugging Face. Vérifiez le nom et réessayez.</translation>
    </message>
    <message>
      <source>That was not found on Hugging Face. Check the name and try again.</source>
      <translation>Élément introuvable sur Hugging Face. Vérifiez le nom et réessayez.</translation>
    </message>
    <message>
      <source>The file {file} in {model} was not found on Hugging Face. Check the name and try again.</source>
      <translation>Le fichier {file} de {model} est introuvable sur Hugging Face. Vérifiez le nom et réessayez.</translation>
    </message>
    <message>
      <source>The model was not found on Hugging Face. Check the name and try again.</source>
      <translation>Le modèle est introuvable sur Hugging Face. Vérifiez le nom et réessayez.</translation>
    </message>
    <message>
      <source>The model {model} was not found on Hugging Face. Check the name and try again.</source>
      <translation>Le modèle {model} est introuvable sur Hugging Face. Vérifiez le nom et réessayez.</translation>
    </message>
    <message>
      <source>This model needs a Hugging Face account. Open {address} and accept its license, then add your Hugging Face token in Settings and try again.</source>
      <translation>Ce modèle nécessite un compte Hugging Face. Ouvrez {address} et acceptez sa licence, puis ajoutez votre jeton Hugging Face dans les Paramètres et réessayez.</translation>
    </message>
    <message>
      <source>This model needs your approval first. Open {address} , accept its license with your Hugging Face account, then try again.</source>
      <translation>Ce modèle nécessite d'abord votre accord. Ouvrez {address} , acceptez sa licence avec votre compte Hugging Face, puis réessayez.</translation>
    </message>
    <message>
      <source>the hub answered {status}</source>
      <translation>le hub a répondu {status}</translation>
    </message>
    <message>
      <source>{name} is not a valid model or file name.</source>
      <translation>{name} n'est pas un nom de modèle ou de fichier valide.</translation>
    </message>
    <message>
      <source>{what} was not found on Hugging Face. Check the name and try again.</source>
      <translation>{what} est introuvable sur Hugging Face. Vérifiez le nom et réessayez.</translation>
    </message>
  </context>
  <context>
    <name>index</name>
    <message>
      <source>a collection named {collection} already exists</source>
      <translation>une collection nommée {collection} existe déjà</translation>
    </message>
    <message>
      <source>a collection needs a name</source>
      <translation>une collection doit avoir un nom</translation>
    </message>
    <message>
      <source>there is no collection named {collection}</source>
      <translation>il n'existe aucune collection nommée {collection}</translation>
    </message>
    <message>
      <source>{file} was written by a newer Enclave (schema {version})</source>
      <translation>{file} a été créé par une version plus récente d'Enclave (schéma {version})</translation>
    </message>
  </context>
  <context>
    <name>indexer</name>
    <message>
      <source>Embedding failed; some chunks are searchable by keywords only.</source>
      <translation>La vectorisation a échoué : certains passages ne peuvent être trouvés que par mots-clés.</translation>
    </message>
    <message>
      <source>Embedding failed; these files are searchable by keywords only.</source>
      <translation>La vectorisation a échoué : ces fichiers ne peuvent être trouvés que par mots-clés.</translation>
    </message>
    <message>
      <source>No embedding model ({reason}): chunks are indexed for keyword search only; vectors are added on a later run with a model.</source>
      <translation>Aucun modèle de plongement ({reason}) : les passages sont indexés pour la recherche par mots-clés uniquement ; les vecteurs seront ajoutés lors d'une prochaine indexation avec un modèle.</translation>
    </message>
    <message>
      <source>The disk is full: the index of “{collection}” could not be saved. What was indexed so far is kept and can be searched; free some space, then index again to continue.</source>
      <translation>Le disque est plein : l'index de « {collection} » n'a pas pu être enregistré. Ce qui a déjà été indexé est conservé et reste consultable ; libérez de l'espace, puis relancez l'indexation pour continuer.</translation>
    </message>
    <message>
      <source>Updating search for the new embedding model failed; search goes on with the previous model until the next try.</source>
      <translation>La recherche n’a pas pu être préparée pour le nouveau modèle ; elle continue avec le modèle précédent jusqu’au prochain essai.</translation>
    </message>
    <message>
      <source>a link to a folder is not followed (add that folder itself to index it)</source>
      <translation>un lien vers un dossier n'est pas suivi (ajoutez ce dossier lui-même pour l'indexer)</translation>
    </message>
    <message>
      <source>cannot read ({reason})</source>
      <translation>lecture impossible ({reason})</translation>
    </message>
    <message>
      <source>none given</source>
      <translation>aucune raison indiquée</translation>
    </message>
    <message>
      <source>not a regular file (a pipe, socket or device)</source>
      <translation>ce n'est pas un fichier ordinaire (tube, socket ou périphérique)</translation>
    </message>
    <message>
      <source>not found (moved, deleted or unplugged?)</source>
      <translation>introuvable (déplacé, supprimé ou débranché ?)</translation>
    </message>
    <message>
      <source>the link points to a file that is not there</source>
      <translation>le lien pointe vers un fichier qui n'existe pas</translation>
    </message>
    <message>
      <source>the link points to itself (a link loop)</source>
      <translation>le lien pointe vers lui-même (boucle de liens)</translation>
    </message>
  </context>
  <context>
    <name>language</name>
    <message>
      <source>Same as this computer ({language})</source>
      <translation>Comme sur cet ordinateur ({language})</translation>
    </message>
  </context>
  <context>
    <name>language_setting</name>
    <message>
      <source>Could not save the settings: {error}</source>
      <translation>Impossible d'enregistrer les paramètres : {error}</translation>
    </message>
    <message>
      <source>Language</source>
      <translation>Langue</translation>
    </message>
    <message>
      <source>Language of the window</source>
      <translation>Langue de la fenêtre</translation>
    </message>
    <message>
      <source>Restart now</source>
      <translation>Redémarrer maintenant</translation>
    </message>
  </context>
  <context>
    <name>library</name>
    <message numerus="yes">
      <source>%n models on this computer ({size}); {downloaded} downloaded with Enclave. Double-click one to chat with it.</source>
      <translation>
        <numerusform>%n modèle sur cet ordinateur ({size}) ; téléchargés avec Enclave : {downloaded}. Double-cliquez sur un modèle pour discuter avec lui.</numerusform>
        <numerusform>%n modèles sur cet ordinateur ({size}) ; téléchargés avec Enclave : {downloaded}. Double-cliquez sur l'un d'eux pour discuter avec lui.</numerusform>
      </translation>
    </message>
    <message>
      <source>Add a folder of models</source>
      <translation>Ajouter un dossier de modèles</translation>
    </message>
    <message>
      <source>Add a folder…</source>
      <translation>Ajouter un dossier…</translation>
    </message>
    <message>
      <source>Add a model file</source>
      <translation>Ajouter un fichier de modèle</translation>
    </message>
    <message>
      <source>Add a model file…</source>
      <translation>Ajouter un fichier de modèle…</translation>
    </message>
    <message>
      <source>Also list every model in a folder of yours</source>
      <translation>Afficher aussi tous les modèles d'un de vos dossiers</translation>
    </message>
    <message>
      <source>Chat with this model</source>
      <translation>Discuter avec ce modèle</translation>
    </message>
    <message>
      <source>Could not delete {file}: {reason}.</source>
      <translation>Impossible de supprimer {file} : {reason}.</translation>
    </message>
    <message>
      <source>Delete this model's file from your computer</source>
      <translation>Supprimer le fichier de ce modèle de votre ordinateur</translation>
    </message>
    <message>
      <source>Delete this model?</source>
      <translation>Supprimer ce modèle ?</translation>
    </message>
    <message>
      <source>Delete {model} ({size}) from this computer?

You can download it again later from Discover.</source>
      <translation>Supprimer {model} ({size}) de cet ordinateur ?

Vous pourrez le télécharger à nouveau plus tard depuis Découvrir.</translation>
    </message>
    <message>
      <source>Delete…</source>
      <translation>Supprimer…</translation>
    </message>
    <message>
      <source>Enclave could not list your models: {error}</source>
      <translation>Enclave n'a pas pu afficher la liste de vos modèles : {error}</translation>
    </message>
    <message>
      <source>From</source>
      <translation>Origine</translation>
    </message>
    <message>
      <source>Go to Discover</source>
      <translation>Aller à Découvrir</translation>
    </message>
    <message>
      <source>Hugging Face cache</source>
      <translation>Cache Hugging Face</translation>
    </message>
    <message>
      <source>Keep a model file you already have in this list (it stays where it is)</source>
      <translation>Ajouter à cette liste un fichier de modèle que vous avez déjà (il reste à son emplacement)</translation>
    </message>
    <message>
      <source>Last used</source>
      <translation>Dernière utilisation</translation>
    </message>
    <message>
      <source>Looking for models…</source>
      <translation>Recherche des modèles…</translation>
    </message>
    <message>
      <source>Missing: no longer at this place</source>
      <translation>Manquant : n'est plus à cet emplacement</translation>
    </message>
    <message>
      <source>Model</source>
      <translation>Modèle</translation>
    </message>
    <message>
      <source>Model files (*.gguf);;All files (*)</source>
      <translation>Fichiers de modèle (*.gguf);;Tous les fichiers (*)</translation>
    </message>
    <message>
      <source>Models in {folder} are listed here from now on.</source>
      <translation>Les modèles de {folder} apparaissent désormais ici.</translation>
    </message>
    <message>
      <source>Models on this computer</source>
      <translation>Modèles sur cet ordinateur</translation>
    </message>
    <message>
      <source>Models on this computer: Enclave's own and other apps'.</source>
      <translation>Modèles sur cet ordinateur : ceux d'Enclave et ceux d'autres applications.</translation>
    </message>
    <message>
      <source>Models you download, open or add appear here.</source>
      <translation>Les modèles que vous téléchargez, ouvrez ou ajoutez apparaissent ici.</translation>
    </message>
    <message>
      <source>No models yet — get one in Discover, or add a model file you already have.</source>
      <translation>Aucun modèle pour l'instant — trouvez-en un dans Découvrir, ou ajoutez un fichier de modèle que vous avez déjà.</translation>
    </message>
    <message>
      <source>Not allowed by your organisation</source>
      <translation>Non autorisé par votre organisation</translation>
    </message>
    <message>
      <source>On this computer</source>
      <translation>Sur cet ordinateur</translation>
    </message>
    <message>
      <source>Organisation</source>
      <translation>Organisation</translation>
    </message>
    <message>
      <source>Press Enter or double-click a model to chat with it</source>
      <translation>Appuyez sur Entrée ou double-cliquez sur un modèle pour discuter avec lui</translation>
    </message>
    <message>
      <source>Quality: {quality}</source>
      <translation>Qualité : {quality}</translation>
    </message>
    <message>
      <source>Refresh</source>
      <translation>Actualiser</translation>
    </message>
    <message>
      <source>Refused to delete {file}: it is outside Enclave's models folder.</source>
      <translation>Suppression de {file} refusée : il se trouve en dehors du dossier des modèles d'Enclave.</translation>
    </message>
    <message>
      <source>Remove from list</source>
      <translation>Retirer de la liste</translation>
    </message>
    <message>
      <source>Show in folder</source>
      <translation>Afficher dans le dossier</translation>
    </message>
    <message>
      <source>Size</source>
      <translation>Taille</translation>
    </message>
    <message>
      <source>Take this model off the list; its file is not touched</source>
      <translation>Retirer ce modèle de la liste ; son fichier reste intact</translation>
    </message>
    <message>
      <source>This file belongs to {app}; Enclave uses it where it is and never deletes it.</source>
      <translation>Ce fichier appartient à {app} ; Enclave l'utilise à son emplacement et ne le supprime jamais.</translation>
    </message>
    <message>
      <source>This model belongs to {source}; Enclave only uses it and will not delete it. Remove it from {source} instead.</source>
      <translation>Ce modèle appartient à {source} ; Enclave se contente de l'utiliser et ne le supprimera pas. Supprimez-le plutôt depuis {source}.</translation>
    </message>
    <message>
      <source>This model is open in the chat. Unload it first (Chat page), then delete it.</source>
      <translation>Ce modèle est ouvert dans la conversation. Déchargez-le d'abord (page Chat), puis supprimez-le.</translation>
    </message>
    <message>
      <source>Your file</source>
      <translation>Votre fichier</translation>
    </message>
    <message>
      <source>Your folder</source>
      <translation>Votre dossier</translation>
    </message>
    <message>
      <source>Your models</source>
      <translation>Vos modèles</translation>
    </message>
    <message>
      <source>Your organisation shares this model; Enclave uses it where it is and never deletes it.</source>
      <translation>Votre organisation partage ce modèle ; Enclave l'utilise à son emplacement et ne le supprime jamais.</translation>
    </message>
    <message>
      <source>from {publisher}</source>
      <translation>de {publisher}</translation>
    </message>
    <message>
      <source>never</source>
      <translation>jamais</translation>
    </message>
    <message>
      <source>{file} is in your Library.</source>
      <translation>{file} est dans votre Bibliothèque.</translation>
    </message>
    <message>
      <source>{file} is not a model file Enclave can use (it must be a GGUF file, the kind of file Discover downloads).</source>
      <translation>{file} n'est pas un fichier de modèle utilisable par Enclave (il doit s'agir d'un fichier GGUF, le type de fichier que télécharge Découvrir).</translation>
    </message>
    <message>
      <source>{file} is not there any more.</source>
      <translation>{file} n'est plus là.</translation>
    </message>
    <message>
      <source>{file} is off the list (the file was not touched).</source>
      <translation>{file} a été retiré de la liste (le fichier est resté intact).</translation>
    </message>
    <message>
      <source>{missing} no longer found.</source>
      <translation>Introuvables désormais : {missing}.</translation>
    </message>
    <message>
      <source>{model} was deleted.</source>
      <translation>{model} a été supprimé.</translation>
    </message>
    <message>
      <source>{path} is no longer there (moved or deleted?). Remove it from the list, or put it back.</source>
      <translation>{path} n'est plus là (déplacé ou supprimé ?). Retirez-le de la liste, ou remettez-le à sa place.</translation>
    </message>
  </context>
  <context>
    <name>link_confirm</name>
    <message>
      <source>Cancel</source>
      <translation>Annuler</translation>
    </message>
    <message>
      <source>Open a link from the answer?</source>
      <translation>Ouvrir un lien de la réponse ?</translation>
    </message>
    <message>
      <source>Open in browser</source>
      <translation>Ouvrir dans le navigateur</translation>
    </message>
    <message>
      <source>The answer links to this address. Open it in your web browser?</source>
      <translation>La réponse renvoie vers cette adresse. Voulez-vous l'ouvrir dans votre navigateur web ?</translation>
    </message>
  </context>
  <context>
    <name>loader</name>
    <message>
      <source>The draft model {name} could not be read, so answers come without it.</source>
      <translation>Le modèle d'ébauche {name} n'a pas pu être lu : les réponses se font sans lui.</translation>
    </message>
    <message>
      <source>The draft model {name} does not fit in the memory left beside this model, so answers come without it.</source>
      <translation>Le modèle d'ébauche {name} ne tient pas dans la mémoire qui reste à côté de ce modèle : les réponses se font sans lui.</translation>
    </message>
    <message>
      <source>The model {model} is an embedding model: it turns text into numbers for document search and cannot write answers. Choose a chat model.</source>
      <translation>Le modèle {model} est un modèle de plongement : il transforme le texte en nombres pour la recherche dans les documents et ne peut pas rédiger de réponses. Choisissez un modèle de conversation.</translation>
    </message>
    <message>
      <source>Your GPU ran out of memory with {tried} layers, so Enclave loaded the model with {loaded} layers on the GPU instead. It works, a little slower.</source>
      <translation>La mémoire de votre GPU était insuffisante avec {tried} couches : Enclave a donc chargé le modèle avec {loaded} couches sur le GPU. Il fonctionne, un peu plus lentement.</translation>
    </message>
  </context>
  <context>
    <name>mail</name>
    <message>
      <source>attached mail {number}</source>
      <translation>e-mail joint {number}</translation>
    </message>
    <message>
      <source>attachments nested deeper than this are not searchable</source>
      <translation>les pièces jointes imbriquées plus profondément ne sont pas prises en compte par la recherche</translation>
    </message>
    <message>
      <source>the attached mail {mail} could not be read ({reason})</source>
      <translation>l'e-mail joint {mail} n'a pas pu être lu ({reason})</translation>
    </message>
    <message>
      <source>the attachment {file} could not be read: {reason}</source>
      <translation>la pièce jointe {file} n'a pas pu être lue : {reason}</translation>
    </message>
    <message>
      <source>{attachment}: {note}</source>
      <translation>{attachment} : {note}</translation>
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
      <translation>Préréglage, consignes et réglages des réponses pour cette conversation</translation>
    </message>
    <message>
      <source>Ready</source>
      <translation>Prêt</translation>
    </message>
    <message>
      <source>⚙ Chat settings</source>
      <translation>⚙ Réglages du chat</translation>
    </message>
  </context>
  <context>
    <name>manager</name>
    <message>
      <source>Unexpected problem: {problem}</source>
      <translation>Problème inattendu : {problem}</translation>
    </message>
  </context>
  <context>
    <name>markdown_render</name>
    <message>
      <source>Copy</source>
      <translation>Copier</translation>
    </message>
    <message>
      <source>code</source>
      <translation>code</translation>
    </message>
  </context>
  <context>
    <name>message_widget</name>
    <message>
      <source>Answer: {answer}</source>
      <translation>Réponse : {answer}</translation>
    </message>
    <message>
      <source>Assistant</source>
      <translation>Assistant</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>Annuler</translation>
    </message>
    <message>
      <source>Copied ✓</source>
      <translation>Copié ✓</translation>
    </message>
    <message>
      <source>Copy</source>
      <translation>Copier</translation>
    </message>
    <message>
      <source>Copy this message</source>
      <translation>Copier ce message</translation>
    </message>
    <message>
      <source>Cut off: the answer reached its length limit. Ask “go on” for the rest.</source>
      <translation>Tronquée : la réponse a atteint sa longueur maximale. Demandez « continue » pour avoir la suite.</translation>
    </message>
    <message>
      <source>Earlier version</source>
      <translation>Version précédente</translation>
    </message>
    <message>
      <source>Edit</source>
      <translation>Modifier</translation>
    </message>
    <message>
      <source>Edit this message and send it again</source>
      <translation>Modifier ce message et le renvoyer</translation>
    </message>
    <message>
      <source>Edit your message</source>
      <translation>Modifier votre message</translation>
    </message>
    <message>
      <source>Failed.</source>
      <translation>Échec.</translation>
    </message>
    <message>
      <source>Interrupted: the engine stopped before this answer was finished.</source>
      <translation>Interrompue : le moteur s'est arrêté avant la fin de cette réponse.</translation>
    </message>
    <message>
      <source>Later version</source>
      <translation>Version suivante</translation>
    </message>
    <message>
      <source>Not in the model's memory</source>
      <translation>Hors de la mémoire du modèle</translation>
    </message>
    <message>
      <source>Regenerate</source>
      <translation>Régénérer</translation>
    </message>
    <message>
      <source>Send</source>
      <translation>Envoyer</translation>
    </message>
    <message>
      <source>Speed: {speed}</source>
      <translation>Vitesse : {speed}</translation>
    </message>
    <message>
      <source>Stopped.</source>
      <translation>Arrêté.</translation>
    </message>
    <message>
      <source>System</source>
      <translation>Système</translation>
    </message>
    <message>
      <source>This conversation is longer than the model's context: the oldest messages are left out of what the model sees when it answers.</source>
      <translation>Cette conversation dépasse la mémoire du modèle : les messages les plus anciens ne sont plus pris en compte quand il répond.</translation>
    </message>
    <message>
      <source>Write this answer again</source>
      <translation>Rédiger à nouveau cette réponse</translation>
    </message>
    <message>
      <source>You</source>
      <translation>Vous</translation>
    </message>
    <message>
      <source>first word after {time}</source>
      <translation>premier mot après {time}</translation>
    </message>
    <message>
      <source>from the server {server}</source>
      <translation>depuis le serveur {server}</translation>
    </message>
    <message>
      <source>on this computer</source>
      <translation>sur cet ordinateur</translation>
    </message>
    <message>
      <source>{figures} (a token is about ¾ of a word)</source>
      <translation>{figures} (un jeton correspond à environ ¾ de mot)</translation>
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
      <translation>Problème de connexion ; nouvel essai dans {seconds} s</translation>
    </message>
    <message>
      <source>Hugging Face gives no checksum for {file}, so Enclave cannot check it.</source>
      <translation>Hugging Face ne fournit pas de somme de contrôle pour {file} : Enclave ne peut donc pas le vérifier.</translation>
    </message>
    <message>
      <source>the download kept failing</source>
      <translation>le téléchargement a échoué à plusieurs reprises</translation>
    </message>
  </context>
  <context>
    <name>model_bar</name>
    <message>
      <source>Architecture:</source>
      <translation>Architecture :</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>Annuler</translation>
    </message>
    <message>
      <source>Chat template:</source>
      <translation>Gabarit de conversation :</translation>
    </message>
    <message>
      <source>Context:</source>
      <translation>Contexte :</translation>
    </message>
    <message>
      <source>Details</source>
      <translation>Détails</translation>
    </message>
    <message>
      <source>Free the memory the model uses</source>
      <translation>Libérer la mémoire utilisée par le modèle</translation>
    </message>
    <message>
      <source>GPU layers:</source>
      <translation>Couches GPU :</translation>
    </message>
    <message>
      <source>Get one in Discover, or open a model file you already have.</source>
      <translation>Trouvez-en un dans Découvrir, ou ouvrez un fichier de modèle que vous avez déjà.</translation>
    </message>
    <message>
      <source>Load</source>
      <translation>Charger</translation>
    </message>
    <message>
      <source>Loading… %p%</source>
      <translation>Chargement… %p %</translation>
    </message>
    <message>
      <source>Made for:</source>
      <translation>Conçu pour :</translation>
    </message>
    <message>
      <source>Memory:</source>
      <translation>Mémoire :</translation>
    </message>
    <message>
      <source>Name in the file:</source>
      <translation>Nom dans le fichier :</translation>
    </message>
    <message>
      <source>No model yet</source>
      <translation>Aucun modèle pour l'instant</translation>
    </message>
    <message>
      <source>Open a model file you already have (a .gguf file; or drop it on the window)</source>
      <translation>Ouvrir un fichier de modèle que vous avez déjà (un fichier .gguf ; vous pouvez aussi le déposer sur la fenêtre)</translation>
    </message>
    <message>
      <source>Open model…</source>
      <translation>Ouvrir un modèle…</translation>
    </message>
    <message>
      <source>Parameters:</source>
      <translation>Paramètres :</translation>
    </message>
    <message>
      <source>Quantization:</source>
      <translation>Quantification :</translation>
    </message>
    <message>
      <source>RAM {ram}</source>
      <translation>RAM {ram}</translation>
    </message>
    <message>
      <source>Remembers:</source>
      <translation>Retient :</translation>
    </message>
    <message>
      <source>Runs:</source>
      <translation>Exécution :</translation>
    </message>
    <message>
      <source>Size, quality, memory and the technical facts of this model</source>
      <translation>Taille, qualité, mémoire et caractéristiques techniques de ce modèle</translation>
    </message>
    <message>
      <source>Size:</source>
      <translation>Taille :</translation>
    </message>
    <message>
      <source>Technical details</source>
      <translation>Détails techniques</translation>
    </message>
    <message>
      <source>Unload</source>
      <translation>Décharger</translation>
    </message>
    <message>
      <source>continuing text (a base model)</source>
      <translation>continuer un texte (modèle de base)</translation>
    </message>
    <message>
      <source>conversations</source>
      <translation>les conversations</translation>
    </message>
    <message>
      <source>fully on the graphics card (GPU)</source>
      <translation>entièrement sur la carte graphique (GPU)</translation>
    </message>
    <message>
      <source>graphics card {gpu_memory} · RAM {ram}</source>
      <translation>carte graphique {gpu_memory} · RAM {ram}</translation>
    </message>
    <message>
      <source>in the file</source>
      <translation>dans le fichier</translation>
    </message>
    <message>
      <source>none (a standard one is used)</source>
      <translation>aucun (un gabarit standard est utilisé)</translation>
    </message>
    <message>
      <source>on the processor (CPU): slower than on a graphics card</source>
      <translation>sur le processeur (CPU) : plus lent que sur une carte graphique</translation>
    </message>
    <message>
      <source>partly on the graphics card (GPU), the rest on the processor</source>
      <translation>en partie sur la carte graphique (GPU), le reste sur le processeur</translation>
    </message>
    <message>
      <source>{amount} of a conversation</source>
      <translation>{amount} de conversation</translation>
    </message>
    <message>
      <source>{amount} {unit}</source>
      <translation>{amount} {unit}</translation>
    </message>
    <message>
      <source>{layers} of {total}</source>
      <translation>{layers} sur {total}</translation>
    </message>
    <message>
      <source>{size} · Quality: {quality}</source>
      <translation>{size} · Qualité : {quality}</translation>
    </message>
    <message>
      <source>{tokens} tokens (trained for {trained})</source>
      <translation>{tokens} jetons (entraîné pour {trained})</translation>
    </message>
  </context>
  <context>
    <name>model_load_settings</name>
    <message>
      <source>Apply &amp;&amp; reload</source>
      <translation>Appliquer &amp;&amp; recharger</translation>
    </message>
    <message>
      <source>Automatic (from the model)</source>
      <translation>Automatique (selon le modèle)</translation>
    </message>
    <message>
      <source>Chat format</source>
      <translation>Format de conversation</translation>
    </message>
    <message>
      <source>Context size</source>
      <translation>Taille de la mémoire</translation>
    </message>
    <message>
      <source>Default: {context}</source>
      <translation>Par défaut : {context}</translation>
    </message>
    <message>
      <source>How much of the conversation the model can keep in mind. Bigger needs more memory; Enclave lowers it if it does not fit this computer.</source>
      <translation>La part de la conversation que le modèle peut garder en tête. Plus elle est grande, plus il faut de mémoire ; Enclave la réduit si elle ne convient pas à cet ordinateur.</translation>
    </message>
    <message>
      <source>How the conversation is written for the model. Automatic uses the template inside the model file; choose another only if answers look garbled. Saved for this model.</source>
      <translation>La façon dont la conversation est présentée au modèle. « Automatique » utilise le gabarit inclus dans le fichier du modèle ; n'en choisissez un autre que si les réponses semblent incohérentes. Enregistré pour ce modèle.</translation>
    </message>
    <message>
      <source>Load the model again with these settings (takes a few seconds)</source>
      <translation>Recharger le modèle avec ces réglages (quelques secondes)</translation>
    </message>
    <message>
      <source>Model memory and format</source>
      <translation>Mémoire du modèle et format</translation>
    </message>
    <message>
      <source>These apply when the model is loaded again.</source>
      <translation>Ces réglages s'appliquent au prochain chargement du modèle.</translation>
    </message>
  </context>
  <context>
    <name>model_page</name>
    <message numerus="yes">
      <source>%n files</source>
      <translation>
        <numerusform>%n fichier</numerusform>
        <numerusform>%n fichiers</numerusform>
      </translation>
    </message>
    <message>
      <source>*The description could not be loaded.*</source>
      <translation>*La description n'a pas pu être chargée.*</translation>
    </message>
    <message>
      <source>*This model has no description.*</source>
      <translation>*Ce modèle n'a pas de description.*</translation>
    </message>
    <message>
      <source>Added to Downloads. It starts when offline mode is off.</source>
      <translation>Ajouté aux Téléchargements. Le téléchargement démarrera quand le mode hors ligne sera désactivé.</translation>
    </message>
    <message>
      <source>Download</source>
      <translation>Télécharger</translation>
    </message>
    <message>
      <source>Download {file} ({size})</source>
      <translation>Télécharger {file} ({size})</translation>
    </message>
    <message>
      <source>File</source>
      <translation>Fichier</translation>
    </message>
    <message>
      <source>Looking up the files on Hugging Face…</source>
      <translation>Recherche des fichiers sur Hugging Face…</translation>
    </message>
    <message>
      <source>None of these files fits this computer well. Try a smaller model.</source>
      <translation>Aucun de ces fichiers ne convient vraiment à cet ordinateur. Essayez un modèle plus petit.</translation>
    </message>
    <message>
      <source>On this computer</source>
      <translation>Sur cet ordinateur</translation>
    </message>
    <message>
      <source>Open Settings</source>
      <translation>Ouvrir les Paramètres</translation>
    </message>
    <message>
      <source>Pick a file to download. Smaller files run faster.</source>
      <translation>Choisissez un fichier à télécharger. Les fichiers plus petits sont plus rapides.</translation>
    </message>
    <message>
      <source>Quality</source>
      <translation>Qualité</translation>
    </message>
    <message>
      <source>Queued ✓</source>
      <translation>En attente ✓</translation>
    </message>
    <message>
      <source>Size</source>
      <translation>Taille</translation>
    </message>
    <message>
      <source>Something went wrong: {error}</source>
      <translation>Un problème est survenu : {error}</translation>
    </message>
    <message>
      <source>The highlighted file is the best choice for this computer. Smaller files run faster; larger ones answer a little better.</source>
      <translation>Le fichier en surbrillance est le meilleur choix pour cet ordinateur. Les fichiers plus petits sont plus rapides ; les plus gros répondent un peu mieux.</translation>
    </message>
    <message>
      <source>This model has no GGUF files Enclave can use.</source>
      <translation>Ce modèle n'a aucun fichier GGUF utilisable par Enclave.</translation>
    </message>
    <message>
      <source>Your organisation does not allow any file of this model.</source>
      <translation>Votre organisation n'autorise aucun fichier de ce modèle.</translation>
    </message>
    <message>
      <source>asks you to accept its license</source>
      <translation>vous demande d'accepter sa licence</translation>
    </message>
    <message>
      <source>balanced, the usual choice</source>
      <translation>équilibré, le choix habituel</translation>
    </message>
    <message>
      <source>by {author}</source>
      <translation>par {author}</translation>
    </message>
    <message>
      <source>high quality</source>
      <translation>haute qualité</translation>
    </message>
    <message>
      <source>license: {license}</source>
      <translation>licence : {license}</translation>
    </message>
    <message>
      <source>near original, large</source>
      <translation>proche de l'original, volumineux</translation>
    </message>
    <message>
      <source>not stated</source>
      <translation>non précisée</translation>
    </message>
    <message>
      <source>original, largest</source>
      <translation>original, le plus volumineux</translation>
    </message>
    <message>
      <source>small, fair quality</source>
      <translation>petit, qualité correcte</translation>
    </message>
    <message>
      <source>smallest, lowest quality</source>
      <translation>le plus petit, qualité la plus faible</translation>
    </message>
    <message>
      <source>updated {when}</source>
      <translation>mis à jour {when}</translation>
    </message>
    <message>
      <source>very high quality</source>
      <translation>très haute qualité</translation>
    </message>
    <message>
      <source>{best} — {verdict}</source>
      <translation>{best} — {verdict}</translation>
    </message>
    <message>
      <source>{count} downloads</source>
      <translation>{count} téléchargements</translation>
    </message>
    <message>
      <source>{count} likes</source>
      <translation>{count} j'aime</translation>
    </message>
    <message>
      <source>{model} on Hugging Face</source>
      <translation>{model} sur Hugging Face</translation>
    </message>
    <message>
      <source>{name}  (one model in {parts} parts)</source>
      <translation>{name}  (un modèle en {parts} parties)</translation>
    </message>
    <message>
      <source>{quality} ({quant})</source>
      <translation>{quality} ({quant})</translation>
    </message>
    <message>
      <source>← Back to Discover</source>
      <translation>← Retour à Découvrir</translation>
    </message>
    <message>
      <source>★ Best choice for this computer</source>
      <translation>★ Meilleur choix pour cet ordinateur</translation>
    </message>
  </context>
  <context>
    <name>model_presenter</name>
    <message>
      <source>Answers come from the server {server} now. To use a model on this computer, turn off “Use a server” in Settings.</source>
      <translation>Les réponses viennent désormais du serveur {server}. Pour utiliser un modèle sur cet ordinateur, désactivez « Utiliser un serveur au lieu de cet ordinateur » dans les Paramètres.</translation>
    </message>
    <message>
      <source>Answers come from the server {server}: your messages go there, not to a model on this computer.</source>
      <translation>Les réponses viennent du serveur {server} : vos messages y sont envoyés, et non à un modèle sur cet ordinateur.</translation>
    </message>
    <message>
      <source>GGUF models (*.gguf);;All files (*)</source>
      <translation>Modèles GGUF (*.gguf);;Tous les fichiers (*)</translation>
    </message>
    <message>
      <source>Loaded {file} in {seconds} s</source>
      <translation>{file} chargé en {seconds} s</translation>
    </message>
    <message>
      <source>Loading cancelled.</source>
      <translation>Chargement annulé.</translation>
    </message>
    <message>
      <source>No server model chosen</source>
      <translation>Aucun modèle de serveur choisi</translation>
    </message>
    <message>
      <source>Not loaded.</source>
      <translation>Non chargé.</translation>
    </message>
    <message>
      <source>Not loaded. Click Load to use it.</source>
      <translation>Non chargé. Cliquez sur Charger pour l'utiliser.</translation>
    </message>
    <message>
      <source>Open a model</source>
      <translation>Ouvrir un modèle</translation>
    </message>
    <message>
      <source>Please wait: the engine is busy. Stop the answer first.</source>
      <translation>Veuillez patienter : le moteur est occupé. Arrêtez d'abord la réponse.</translation>
    </message>
    <message>
      <source>Reading the model file…</source>
      <translation>Lecture du fichier du modèle…</translation>
    </message>
    <message>
      <source>The engine stopped. Click “Reload model” to go on.</source>
      <translation>Le moteur s'est arrêté. Cliquez sur « Recharger le modèle » pour continuer.</translation>
    </message>
    <message>
      <source>The model used last time ({file}) is no longer there. Open another one.</source>
      <translation>Le modèle utilisé la dernière fois ({file}) n'est plus là. Ouvrez-en un autre.</translation>
    </message>
    <message>
      <source>This is a base model: it continues text rather than answering questions, so its replies may ramble. For conversations, choose a model made for chat (its name usually says “Instruct” or “Chat”): Discover recommends one for this computer.</source>
      <translation>C'est un modèle de base : il prolonge un texte au lieu de répondre aux questions, ses réponses peuvent donc partir dans tous les sens. Pour les conversations, choisissez un modèle conçu pour le chat (son nom contient en général « Instruct » ou « Chat ») : Découvrir vous en recommande un pour cet ordinateur.</translation>
    </message>
    <message>
      <source>Unloaded: the memory is free. Click Load to use it again.</source>
      <translation>Déchargé : la mémoire est libérée. Cliquez sur Charger pour le réutiliser.</translation>
    </message>
    <message>
      <source>Your organisation's default model ({model}) is not on this computer. Open another one.</source>
      <translation>Le modèle par défaut de votre organisation ({model}) n'est pas sur cet ordinateur. Ouvrez-en un autre.</translation>
    </message>
    <message>
      <source>{file} is too large for this computer: {reason}</source>
      <translation>{file} est trop volumineux pour cet ordinateur : {reason}</translation>
    </message>
  </context>
  <context>
    <name>models</name>
    <message>
      <source>Discover</source>
      <translation>Découvrir</translation>
    </message>
    <message>
      <source>Library</source>
      <translation>Bibliothèque</translation>
    </message>
    <message>
      <source>Settings</source>
      <translation>Paramètres</translation>
    </message>
    <message>
      <source>{file} is downloaded: it is in your Library.</source>
      <translation>{file} est téléchargé : il se trouve dans votre Bibliothèque.</translation>
    </message>
  </context>
  <context>
    <name>models_common</name>
    <message numerus="yes">
      <source>%n days ago</source>
      <translation>
        <numerusform>il y a %n jour</numerusform>
        <numerusform>il y a %n jours</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n hours ago</source>
      <translation>
        <numerusform>il y a %n heure</numerusform>
        <numerusform>il y a %n heures</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n minutes ago</source>
      <translation>
        <numerusform>il y a %n minute</numerusform>
        <numerusform>il y a %n minutes</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n months ago</source>
      <translation>
        <numerusform>il y a %n mois</numerusform>
        <numerusform>il y a %n mois</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n years ago</source>
      <translation>
        <numerusform>il y a %n an</numerusform>
        <numerusform>il y a %n ans</numerusform>
      </translation>
    </message>
    <message>
      <source>Checking…</source>
      <translation>Vérification…</translation>
    </message>
    <message>
      <source>On the processor only: slow</source>
      <translation>Sur le processeur uniquement : lent</translation>
    </message>
    <message>
      <source>Partly on the GPU: a little slower</source>
      <translation>En partie sur le GPU : un peu plus lent</translation>
    </message>
    <message>
      <source>Partly on the GPU: slower</source>
      <translation>En partie sur le GPU : plus lent</translation>
    </message>
    <message>
      <source>Runs fully on your GPU</source>
      <translation>Fonctionne entièrement sur votre GPU</translation>
    </message>
    <message>
      <source>Too large for this computer</source>
      <translation>Trop volumineux pour cet ordinateur</translation>
    </message>
    <message>
      <source>Unknown</source>
      <translation>Inconnu</translation>
    </message>
    <message>
      <source>just now</source>
      <translation>à l'instant</translation>
    </message>
    <message>
      <source>yesterday</source>
      <translation>hier</translation>
    </message>
    <message>
      <source>{count}B</source>
      <translation>{count} Md</translation>
    </message>
    <message>
      <source>{count}K</source>
      <translation>{count} k</translation>
    </message>
    <message>
      <source>{count}M</source>
      <translation>{count} M</translation>
    </message>
    <message>
      <source>{hours} h {minutes} min left</source>
      <translation>encore {hours} h {minutes} min</translation>
    </message>
    <message>
      <source>{minutes} min left</source>
      <translation>encore {minutes} min</translation>
    </message>
    <message>
      <source>{seconds} s left</source>
      <translation>encore {seconds} s</translation>
    </message>
  </context>
  <context>
    <name>notice_bar</name>
    <message>
      <source>Dismiss</source>
      <translation>Fermer</translation>
    </message>
  </context>
  <context>
    <name>ocr</name>
    <message>
      <source>a picture: reading text from pictures is turned off</source>
      <translation>une image : la lecture du texte dans les images est désactivée</translation>
    </message>
    <message>
      <source>reading the text in the picture (page {page} of {pages})</source>
      <translation>lecture du texte de l'image (page {page} sur {pages})</translation>
    </message>
    <message>
      <source>the picture is too large to read</source>
      <translation>l'image est trop grande pour être lue</translation>
    </message>
    <message>
      <source>the picture looks damaged</source>
      <translation>l'image semble endommagée</translation>
    </message>
  </context>
  <context>
    <name>office</name>
    <message>
      <source>only the first {rows} spreadsheet rows are searchable</source>
      <translation>seules les {rows} premières lignes de la feuille de calcul sont prises en compte par la recherche</translation>
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
      <translation>environ {count} mots</translation>
    </message>
    <message>
      <source>about {words} words a second</source>
      <translation>environ {words} mots par seconde</translation>
    </message>
    <message>
      <source>excellent</source>
      <translation>excellente</translation>
    </message>
    <message>
      <source>fair</source>
      <translation>correcte</translation>
    </message>
    <message>
      <source>good</source>
      <translation>bonne</translation>
    </message>
    <message>
      <source>low</source>
      <translation>faible</translation>
    </message>
    <message>
      <source>lowest</source>
      <translation>la plus faible</translation>
    </message>
    <message>
      <source>near original</source>
      <translation>proche de l'original</translation>
    </message>
    <message>
      <source>original</source>
      <translation>originale</translation>
    </message>
    <message>
      <source>very good</source>
      <translation>très bonne</translation>
    </message>
    <message>
      <source>{minutes} min {seconds} s</source>
      <translation>{minutes} min {seconds} s</translation>
    </message>
    <message>
      <source>{seconds} s</source>
      <translation>{seconds} s</translation>
    </message>
    <message>
      <source>{words} ({count} tokens)</source>
      <translation>{words} ({count} jetons)</translation>
    </message>
  </context>
  <context>
    <name>planner</name>
    <message>
      <source>Context lowered from {wanted} to {tokens} tokens to fit in memory.</source>
      <translation>Mémoire du modèle réduite de {wanted} à {tokens} jetons pour tenir en mémoire.</translation>
    </message>
    <message>
      <source>Context: {tokens} tokens.</source>
      <translation>Mémoire du modèle : {tokens} jetons.</translation>
    </message>
    <message>
      <source>Estimated from the file size only; the real plan is made once it is downloaded.</source>
      <translation>Estimation fondée uniquement sur la taille du fichier ; le plan réel sera établi une fois le fichier téléchargé.</translation>
    </message>
    <message>
      <source>Even with a {tokens}-token context and part on the GPU, the model does not fit in memory ({free} RAM free, {kept} kept for the system).</source>
      <translation>Même avec une mémoire du modèle de {tokens} jetons et une partie sur le GPU, le modèle ne tient pas en mémoire ({free} de RAM libre, {kept} réservés au système).</translation>
    </message>
    <message>
      <source>GPU {gpu}: plan uses {used} of {free} free (keeping {kept} for the driver and other apps).</source>
      <translation>GPU {gpu} : le plan utilise {used} sur {free} libres ({kept} réservés au pilote et aux autres applications).</translation>
    </message>
    <message>
      <source>GPU {gpu}: takes {share}% of the layers, about {used} of its {free} free.</source>
      <translation>GPU {gpu} : prend {share} % des couches, environ {used} sur ses {free} libres.</translation>
    </message>
    <message>
      <source>Needs {needed}, this computer has {have} available</source>
      <translation>Il faut {needed}, cet ordinateur dispose de {have}</translation>
    </message>
    <message>
      <source>Only the output layer on your GPU, the rest on the CPU: slower</source>
      <translation>Seule la couche de sortie sur votre GPU, le reste sur le CPU : plus lent</translation>
    </message>
    <message>
      <source>Pick a smaller model or a smaller quantization (for example Q4_K_M instead of Q8_0).</source>
      <translation>Choisissez un modèle plus petit ou une quantification plus légère (par exemple Q4_K_M au lieu de Q8_0).</translation>
    </message>
    <message>
      <source>RAM: plan uses {used} of {available} available.</source>
      <translation>RAM : le plan utilise {used} sur {available} disponibles.</translation>
    </message>
    <message numerus="yes">
      <source>Runs fully on your %n GPUs</source>
      <translation>
        <numerusform>Fonctionne entièrement sur votre %n GPU</numerusform>
        <numerusform>Fonctionne entièrement sur vos %n GPU</numerusform>
      </translation>
    </message>
    <message>
      <source>Runs fully on your GPU</source>
      <translation>Fonctionne entièrement sur votre GPU</translation>
    </message>
    <message>
      <source>Runs on the CPU (no usable GPU found): slower than on a GPU</source>
      <translation>Fonctionne sur le CPU (aucun GPU utilisable trouvé) : plus lent que sur un GPU</translation>
    </message>
    <message>
      <source>Runs on the CPU, the GPU has too little free memory: slower</source>
      <translation>Fonctionne sur le CPU, car le GPU n'a pas assez de mémoire libre : plus lent</translation>
    </message>
    <message>
      <source>The model was trained for at most {trained} tokens of context, so {wanted} was capped.</source>
      <translation>Le modèle a été entraîné pour une mémoire de {trained} jetons au maximum : {wanted} a donc été plafonné.</translation>
    </message>
    <message>
      <source>To keep a {tokens}-token context, Enclave stores the conversation memory in a compact 8-bit form: {compact} instead of {full} (answers stay practically the same).</source>
      <translation>Pour conserver une mémoire du modèle de {tokens} jetons, Enclave stocke la mémoire de la conversation sous une forme compacte sur 8 bits : {compact} au lieu de {full} (les réponses restent pratiquement identiques).</translation>
    </message>
    <message>
      <source>{on_gpu} of {layers} layers on your GPU, the rest on the CPU: slower</source>
      <translation>{on_gpu} couches sur {layers} sur votre GPU, le reste sur le CPU : plus lent</translation>
    </message>
    <message>
      <source>{size} GB</source>
      <translation>{size} Go</translation>
    </message>
    <message>
      <source>{size} MB</source>
      <translation>{size} Mo</translation>
    </message>
  </context>
  <context>
    <name>policy</name>
    <message>
      <source>Until it is fixed, Enclave uses the strictest settings: no internet, no downloads, no company server, no local API, and conversations are not saved.</source>
      <translation>Tant que le problème n'est pas résolu, Enclave applique les réglages les plus stricts : pas d'internet, pas de téléchargement, pas de serveur de l'entreprise, pas d'API locale, et les conversations ne sont pas enregistrées.</translation>
    </message>
    <message>
      <source>strictest reading (the policy could not be read in full)</source>
      <translation>interprétation la plus stricte (la stratégie n'a pas pu être lue entièrement)</translation>
    </message>
    <message>
      <source>{origin} could not be read: {why}.</source>
      <translation>{origin} n'a pas pu être lu : {why}.</translation>
    </message>
    <message>
      <source>{origin}: “{key}” is not a policy key Enclave knows (a typo?).</source>
      <translation>{origin} : « {key} » n'est pas une clé de stratégie connue d'Enclave (faute de frappe ?).</translation>
    </message>
    <message>
      <source>{origin}: “{key}” should be a list of texts.</source>
      <translation>{origin} : « {key} » doit être une liste de textes.</translation>
    </message>
    <message>
      <source>{origin}: “{key}” should be a text that is not empty.</source>
      <translation>{origin} : « {key} » doit être un texte non vide.</translation>
    </message>
    <message>
      <source>{origin}: “{key}” should be true or false.</source>
      <translation>{origin} : « {key} » doit valoir true ou false.</translation>
    </message>
  </context>
  <context>
    <name>policy_rules</name>
    <message>
      <source>Answers come from this computer only, never from a server.</source>
      <translation>Les réponses viennent uniquement de cet ordinateur, jamais d'un serveur.</translation>
    </message>
    <message>
      <source>Conversations are not saved: they are gone when Enclave closes.</source>
      <translation>Les conversations ne sont pas enregistrées : elles disparaissent à la fermeture d'Enclave.</translation>
    </message>
    <message>
      <source>Conversations are saved on this computer.</source>
      <translation>Les conversations sont enregistrées sur cet ordinateur.</translation>
    </message>
    <message>
      <source>Downloading models is turned off: use the models already on this computer.</source>
      <translation>Le téléchargement de modèles est désactivé : utilisez les modèles déjà présents sur cet ordinateur.</translation>
    </message>
    <message>
      <source>Enclave may connect to the internet for search and downloads.</source>
      <translation>Enclave peut se connecter à internet pour la recherche et les téléchargements.</translation>
    </message>
    <message>
      <source>Enclave never connects to the internet: no search and no downloads.</source>
      <translation>Enclave ne se connecte jamais à internet : ni recherche ni téléchargement.</translation>
    </message>
    <message>
      <source>Models can be downloaded.</source>
      <translation>Les modèles peuvent être téléchargés.</translation>
    </message>
    <message>
      <source>Models come from this folder too. Enclave only reads it, never writes there.</source>
      <translation>Des modèles proviennent aussi de ce dossier. Enclave se contente de le lire et n'y écrit jamais.</translation>
    </message>
    <message>
      <source>New conversations start with this preset.</source>
      <translation>Les nouvelles conversations commencent avec ce préréglage.</translation>
    </message>
    <message>
      <source>No model is allowed on this computer.</source>
      <translation>Aucun modèle n'est autorisé sur cet ordinateur.</translation>
    </message>
    <message>
      <source>Only these company servers can answer instead of this computer.</source>
      <translation>Seuls ces serveurs de l'entreprise peuvent répondre à la place de cet ordinateur.</translation>
    </message>
    <message>
      <source>Only these models can be found and opened; others are hidden or refused.</source>
      <translation>Seuls ces modèles peuvent être trouvés et ouverts ; les autres sont masqués ou refusés.</translation>
    </message>
    <message>
      <source>Other programs may use Enclave's model through the local API.</source>
      <translation>D'autres programmes peuvent utiliser le modèle d'Enclave via l'API locale.</translation>
    </message>
    <message>
      <source>The local API is off: other programs cannot use Enclave's model.</source>
      <translation>L'API locale est désactivée : les autres programmes ne peuvent pas utiliser le modèle d'Enclave.</translation>
    </message>
    <message>
      <source>The local API may only listen on these addresses.</source>
      <translation>L'API locale ne peut écouter que sur ces adresses.</translation>
    </message>
    <message>
      <source>This model opens when you have not chosen one yourself.</source>
      <translation>Ce modèle s'ouvre quand vous n'en avez pas choisi un vous-même.</translation>
    </message>
    <message>
      <source>Your organisation does not allow answers from a server: models run on this computer only.</source>
      <translation>Votre organisation n'autorise pas les réponses d'un serveur : les modèles fonctionnent uniquement sur cet ordinateur.</translation>
    </message>
    <message>
      <source>Your organisation does not allow the API on {address}. Addresses allowed: {allowed}.</source>
      <translation>Votre organisation n'autorise pas l'API sur {address}. Adresses autorisées : {allowed}.</translation>
    </message>
    <message>
      <source>Your organisation does not allow the model {model} on this computer. Models allowed: {allowed}. Ask your IT department if you need it.</source>
      <translation>Votre organisation n'autorise pas le modèle {model} sur cet ordinateur. Modèles autorisés : {allowed}. Adressez-vous à votre service informatique si vous en avez besoin.</translation>
    </message>
    <message>
      <source>Your organisation does not allow the model {model}, so it cannot be downloaded.</source>
      <translation>Votre organisation n'autorise pas le modèle {model} : il ne peut donc pas être téléchargé.</translation>
    </message>
    <message>
      <source>Your organisation does not allow the server {server}. Servers allowed: {allowed}.</source>
      <translation>Votre organisation n'autorise pas le serveur {server}. Serveurs autorisés : {allowed}.</translation>
    </message>
    <message>
      <source>Your organisation has turned off the local API: other programs cannot use Enclave's model.</source>
      <translation>Votre organisation a désactivé l'API locale : les autres programmes ne peuvent pas utiliser le modèle d'Enclave.</translation>
    </message>
    <message>
      <source>no</source>
      <translation>non</translation>
    </message>
    <message>
      <source>none</source>
      <translation>aucun</translation>
    </message>
    <message>
      <source>yes</source>
      <translation>oui</translation>
    </message>
    <message>
      <source>{folder} is your organisation's shared models folder: Enclave only reads it. Choose another models folder in Settings for your own downloads.</source>
      <translation>{folder} est le dossier de modèles partagé de votre organisation : Enclave se contente de le lire. Choisissez un autre dossier de modèles dans les Paramètres pour vos propres téléchargements.</translation>
    </message>
  </context>
  <context>
    <name>policy_sources</name>
    <message>
      <source>{origin} could not be read: it is not a UTF-8 text file.</source>
      <translation>{origin} n'a pas pu être lu : ce n'est pas un fichier texte UTF-8.</translation>
    </message>
    <message>
      <source>{origin} could not be read: it is not a valid property list.</source>
      <translation>{origin} n'a pas pu être lu : ce n'est pas une liste de propriétés valide.</translation>
    </message>
    <message>
      <source>{origin} could not be read: it is not valid JSON (line {line}).</source>
      <translation>{origin} n'a pas pu être lu : ce n'est pas du JSON valide (ligne {line}).</translation>
    </message>
    <message>
      <source>{origin} could not be read: it is not valid JSON.</source>
      <translation>{origin} n'a pas pu être lu : ce n'est pas du JSON valide.</translation>
    </message>
    <message>
      <source>{origin} could not be read: it should hold a dictionary of keys.</source>
      <translation>{origin} n'a pas pu être lu : il devrait contenir un dictionnaire de clés.</translation>
    </message>
    <message>
      <source>{origin} could not be read: it should hold one JSON object, { ... }.</source>
      <translation>{origin} n'a pas pu être lu : il devrait contenir un seul objet JSON, { ... }.</translation>
    </message>
    <message>
      <source>{origin} could not be read: there is no such file.</source>
      <translation>{origin} n'a pas pu être lu : ce fichier n'existe pas.</translation>
    </message>
  </context>
  <context>
    <name>policy_view</name>
    <message>
      <source>API addresses</source>
      <translation>Adresses de l'API</translation>
    </message>
    <message>
      <source>Chat history</source>
      <translation>Historique des conversations</translation>
    </message>
    <message>
      <source>Company servers</source>
      <translation>Serveurs de l'entreprise</translation>
    </message>
    <message>
      <source>Default model</source>
      <translation>Modèle par défaut</translation>
    </message>
    <message>
      <source>Default preset</source>
      <translation>Préréglage par défaut</translation>
    </message>
    <message>
      <source>Downloads</source>
      <translation>Téléchargements</translation>
    </message>
    <message>
      <source>Internet</source>
      <translation>Internet</translation>
    </message>
    <message>
      <source>Local API</source>
      <translation>API locale</translation>
    </message>
    <message>
      <source>Models allowed</source>
      <translation>Modèles autorisés</translation>
    </message>
    <message>
      <source>Open Settings</source>
      <translation>Ouvrir les Paramètres</translation>
    </message>
    <message>
      <source>Organisation's models folder</source>
      <translation>Dossier de modèles de l'organisation</translation>
    </message>
    <message>
      <source>Your IT department has set these. You cannot change them here.</source>
      <translation>Votre service informatique a défini ces réglages. Vous ne pouvez pas les modifier ici.</translation>
    </message>
    <message>
      <source>Your organisation's policy for Enclave could not be read in full, so Enclave uses its strictest settings until IT fixes it. Settings says what is wrong.</source>
      <translation>La stratégie de votre organisation pour Enclave n'a pas pu être lue entièrement : Enclave applique donc ses réglages les plus stricts jusqu'à ce que votre service informatique corrige le problème. Les Paramètres indiquent ce qui ne va pas.</translation>
    </message>
    <message>
      <source>{key}, set in {source}</source>
      <translation>{key}, défini dans {source}</translation>
    </message>
    <message>
      <source>{lock} &lt;b&gt;{setting}&lt;/b&gt;: {value}. {explanation}</source>
      <translation>{lock} &lt;b&gt;{setting}&lt;/b&gt; : {value}. {explanation}</translation>
    </message>
    <message>
      <source>{lock} Set by your organisation</source>
      <translation>{lock} Défini par votre organisation</translation>
    </message>
    <message>
      <source>{setting}: {value}. {explanation}</source>
      <translation>{setting} : {value}. {explanation}</translation>
    </message>
  </context>
  <context>
    <name>presets</name>
    <message>
      <source>A preset needs a name.</source>
      <translation>Un préréglage doit avoir un nom.</translation>
    </message>
    <message>
      <source>Any language in, English out.</source>
      <translation>N'importe quelle langue en entrée, l'anglais en sortie.</translation>
    </message>
    <message>
      <source>Creative writing</source>
      <translation>Écriture créative</translation>
    </message>
    <message>
      <source>Everyday questions and answers.</source>
      <translation>Questions et réponses du quotidien.</translation>
    </message>
    <message>
      <source>Explain like I'm new</source>
      <translation>Expliquer simplement</translation>
    </message>
    <message>
      <source>Helpful assistant</source>
      <translation>Assistant serviable</translation>
    </message>
    <message>
      <source>Precise (code and facts)</source>
      <translation>Précis (code et faits)</translation>
    </message>
    <message>
      <source>Rewrite formally</source>
      <translation>Reformuler formellement</translation>
    </message>
    <message>
      <source>Short bullet points of a text you paste.</source>
      <translation>Un texte que vous collez, résumé en quelques puces courtes.</translation>
    </message>
    <message>
      <source>Simple explanations without jargon.</source>
      <translation>Des explications simples, sans jargon.</translation>
    </message>
    <message>
      <source>Steadier answers for code, numbers and facts.</source>
      <translation>Des réponses plus constantes pour le code, les chiffres et les faits.</translation>
    </message>
    <message>
      <source>Stories, poems, ideas: more varied answers.</source>
      <translation>Histoires, poèmes, idées : des réponses plus variées.</translation>
    </message>
    <message>
      <source>Summarize</source>
      <translation>Résumer</translation>
    </message>
    <message>
      <source>Translate to English</source>
      <translation>Traduire en anglais</translation>
    </message>
    <message>
      <source>Turns a draft into a professional message.</source>
      <translation>Transforme un brouillon en message professionnel.</translation>
    </message>
    <message>
      <source>“{preset}” is a built-in preset; choose another name.</source>
      <translation>« {preset} » est un préréglage intégré ; choisissez un autre nom.</translation>
    </message>
  </context>
  <context>
    <name>progress</name>
    <message>
      <source>{amount} B</source>
      <translation>{amount} o</translation>
    </message>
    <message>
      <source>{amount} GB</source>
      <translation>{amount} Go</translation>
    </message>
    <message>
      <source>{amount} KB</source>
      <translation>{amount} Ko</translation>
    </message>
    <message>
      <source>{amount} MB</source>
      <translation>{amount} Mo</translation>
    </message>
    <message>
      <source>{amount} TB</source>
      <translation>{amount} To</translation>
    </message>
  </context>
  <context>
    <name>queue</name>
    <message>
      <source>The app is closing.</source>
      <translation>L'application se ferme.</translation>
    </message>
  </context>
  <context>
    <name>remote</name>
    <message>
      <source>Connected to {server}, but it has no model “{model}”. Choose one of its models.</source>
      <translation>Connecté à {server}, mais il n'a pas de modèle « {model} ». Choisissez l'un de ses modèles.</translation>
    </message>
    <message>
      <source>Connected to {server}, but the server offers no models.</source>
      <translation>Connecté à {server}, mais le serveur ne propose aucun modèle.</translation>
    </message>
    <message>
      <source>Connected to {server}. “{model}” answered in {seconds} s.</source>
      <translation>Connecté à {server}. « {model} » a répondu en {seconds} s.</translation>
    </message>
    <message numerus="yes">
      <source>Connected to {server}: %n models available. Choose one.</source>
      <translation>
        <numerusform>Connecté à {server} : %n modèle disponible. Choisissez-en un.</numerusform>
        <numerusform>Connecté à {server} : %n modèles disponibles. Choisissez-en un.</numerusform>
      </translation>
    </message>
    <message>
      <source>No model is chosen for the server. Choose one in Settings.</source>
      <translation>Aucun modèle n'est choisi pour le serveur. Choisissez-en un dans les Paramètres.</translation>
    </message>
    <message>
      <source>The server at {server} returned {embeddings} embeddings for {texts} texts.</source>
      <translation>Le serveur {server} a renvoyé {embeddings} vecteurs pour {texts} textes.</translation>
    </message>
  </context>
  <context>
    <name>remote_address</name>
    <message>
      <source>Enter the server's address, for example http://ai-server:8000.</source>
      <translation>Saisissez l'adresse du serveur, par exemple http://ai-server:8000.</translation>
    </message>
    <message>
      <source>“{address}” is not a server address. It looks like http://ai-server:8000.</source>
      <translation>« {address} » n'est pas une adresse de serveur. Une adresse ressemble à ceci : http://ai-server:8000.</translation>
    </message>
  </context>
  <context>
    <name>remote_errors</name>
    <message>
      <source>Enclave cannot reach the server at {server}. Check the address, or ask your IT department whether it is running.</source>
      <translation>Enclave ne parvient pas à joindre le serveur {server}. Vérifiez l'adresse, ou demandez à votre service informatique s'il est en marche.</translation>
    </message>
    <message>
      <source>The conversation is too long for the model on the server. Start a new conversation, or use fewer documents.</source>
      <translation>La conversation est trop longue pour le modèle du serveur. Commencez une nouvelle conversation, ou utilisez moins de documents.</translation>
    </message>
    <message>
      <source>The server at {server} answered with an error ({status}): {words}</source>
      <translation>Le serveur {server} a répondu par une erreur ({status}) : {words}</translation>
    </message>
    <message>
      <source>The server at {server} closed the connection before it answered. Try again, or ask your IT department whether it is running.</source>
      <translation>Le serveur {server} a fermé la connexion avant de répondre. Réessayez, ou demandez à votre service informatique s'il est en marche.</translation>
    </message>
    <message>
      <source>The server at {server} did not answer within {seconds} seconds. It may be busy; try again, or ask your IT department.</source>
      <translation>Le serveur {server} n'a pas répondu dans les {seconds} secondes. Il est peut-être occupé ; réessayez, ou adressez-vous à votre service informatique.</translation>
    </message>
    <message>
      <source>The server at {server} does not have the model “{model}” ({words}). Check the address and the model in Settings.</source>
      <translation>Le serveur {server} n'a pas le modèle « {model} » ({words}). Vérifiez l'adresse et le modèle dans les Paramètres.</translation>
    </message>
    <message>
      <source>The server at {server} does not have what Enclave asked for ({words}). Check the address and the model in Settings.</source>
      <translation>Le serveur {server} ne dispose pas de ce qu'Enclave a demandé ({words}). Vérifiez l'adresse et le modèle dans les Paramètres.</translation>
    </message>
    <message>
      <source>The server at {server} is busy. Try again in a moment.</source>
      <translation>Le serveur {server} est occupé. Réessayez dans un instant.</translation>
    </message>
    <message>
      <source>The server at {server} needs a key. Enter it in Settings (ask your IT department).</source>
      <translation>Le serveur {server} demande une clé. Saisissez-la dans les Paramètres (demandez-la à votre service informatique).</translation>
    </message>
    <message>
      <source>The server at {server} refused the key. Check the key in Settings, or ask your IT department for a new one.</source>
      <translation>Le serveur {server} a refusé la clé. Vérifiez la clé dans les Paramètres, ou demandez-en une nouvelle à votre service informatique.</translation>
    </message>
    <message>
      <source>The server at {server} reported an error: {words}</source>
      <translation>Le serveur {server} a signalé une erreur : {words}</translation>
    </message>
    <message>
      <source>The server at {server} sent an answer Enclave does not understand ({problem}).</source>
      <translation>Le serveur {server} a envoyé une réponse qu'Enclave ne comprend pas ({problem}).</translation>
    </message>
    <message>
      <source>The server at {server} sent nothing more for {seconds} seconds. What arrived is kept.</source>
      <translation>Le serveur {server} n'a plus rien envoyé depuis {seconds} secondes. La partie déjà reçue est conservée.</translation>
    </message>
    <message>
      <source>The server stopped in the middle of the answer. What arrived is kept.</source>
      <translation>Le serveur s'est arrêté au milieu de la réponse. La partie déjà reçue est conservée.</translation>
    </message>
  </context>
  <context>
    <name>request_args</name>
    <message>
      <source>The JSON schema could not be used: {error}</source>
      <translation>Le schéma JSON n'a pas pu être utilisé : {error}</translation>
    </message>
    <message>
      <source>The engine could not use this request: {reason}</source>
      <translation>Le moteur n'a pas pu traiter cette requête : {reason}</translation>
    </message>
    <message>
      <source>The engine could not use this request: {reason}.</source>
      <translation>Le moteur n'a pas pu traiter cette requête : {reason}.</translation>
    </message>
    <message>
      <source>The text is too long for this model: it is {tokens} tokens and the model was loaded with room for {window}. Shorten it, or load the model with a larger context.</source>
      <translation>Le texte est trop long pour ce modèle : il compte {tokens} jetons et le modèle a été chargé avec de la place pour {window}. Raccourcissez-le, ou chargez le modèle avec un contexte plus grand.</translation>
    </message>
    <message>
      <source>response_format json_schema needs a 'schema' object.</source>
      <translation>response_format json_schema nécessite un objet « schema ».</translation>
    </message>
    <message>
      <source>response_format type '{kind}' is not supported (use json_object or json_schema).</source>
      <translation>Le type de response_format « {kind} » n'est pas pris en charge (utilisez json_object ou json_schema).</translation>
    </message>
  </context>
  <context>
    <name>rtf</name>
    <message>
      <source>only the first part of the RTF file is searchable (the file is very long)</source>
      <translation>seule la première partie du fichier RTF est prise en compte par la recherche (le fichier est très long)</translation>
    </message>
  </context>
  <context>
    <name>sampling_settings</name>
    <message>
      <source>Above 1 discourages repeating the same words.</source>
      <translation>Au-dessus de 1, limite la répétition des mêmes mots.</translation>
    </message>
    <message>
      <source>Creativity (temperature)</source>
      <translation>Créativité (température)</translation>
    </message>
    <message>
      <source>Higher: more varied and creative. Lower: steadier and more predictable.</source>
      <translation>Plus haut : plus varié et créatif. Plus bas : plus stable et prévisible.</translation>
    </message>
    <message>
      <source>How it writes</source>
      <translation>Style d'écriture</translation>
    </message>
    <message>
      <source>Longest answer (tokens)</source>
      <translation>Longueur maximale de réponse (jetons)</translation>
    </message>
    <message>
      <source>Min-p</source>
      <translation>Min-p</translation>
    </message>
    <message>
      <source>Min-p: leave out words far less likely than the best one.</source>
      <translation>Min-p : écarte les mots beaucoup moins probables que le meilleur.</translation>
    </message>
    <message>
      <source>Random</source>
      <translation>Aléatoire</translation>
    </message>
    <message>
      <source>Repetition penalty</source>
      <translation>Pénalité de répétition</translation>
    </message>
    <message>
      <source>Seed</source>
      <translation>Graine</translation>
    </message>
    <message>
      <source>The longest answer, in tokens (a token is about ¾ word).</source>
      <translation>La longueur maximale d'une réponse, en jetons (un jeton correspond à environ ¾ de mot).</translation>
    </message>
    <message>
      <source>The same seed, question and settings give the same answer. Empty: random.</source>
      <translation>Avec la même graine, la même question et les mêmes réglages, la réponse est identique. Vide : aléatoire.</translation>
    </message>
    <message>
      <source>Top-k</source>
      <translation>Top-k</translation>
    </message>
    <message>
      <source>Top-k: choose among this many most likely words (0: no limit).</source>
      <translation>Top-k : choisir parmi ce nombre de mots les plus probables (0 : sans limite).</translation>
    </message>
    <message>
      <source>Top-p</source>
      <translation>Top-p</translation>
    </message>
    <message>
      <source>Top-p: only the most likely words that add up to this share.</source>
      <translation>Top-p : seulement les mots les plus probables dont la somme atteint cette part.</translation>
    </message>
  </context>
  <context>
    <name>search</name>
    <message>
      <source>Collection {collection} was indexed with another embedding model; keyword search only there until it is re-indexed.</source>
      <translation>La collection {collection} a été indexée avec un autre modèle de plongement ; seule la recherche par mots-clés y est possible jusqu'à sa réindexation.</translation>
    </message>
    <message>
      <source>No embedding model available ({reason}): keyword search (BM25) only.</source>
      <translation>Aucun modèle de plongement disponible ({reason}) : recherche par mots-clés (BM25) uniquement.</translation>
    </message>
    <message>
      <source>No embedding model available: keyword search (BM25) only.</source>
      <translation>Aucun modèle de plongement disponible : recherche par mots-clés (BM25) uniquement.</translation>
    </message>
  </context>
  <context>
    <name>secrets</name>
    <message>
      <source>Your computer's password store could not remove the Hugging Face token.</source>
      <translation>Le trousseau de mots de passe de votre ordinateur n'a pas pu supprimer le jeton Hugging Face.</translation>
    </message>
    <message>
      <source>Your computer's password store could not remove the server key.</source>
      <translation>Le trousseau de mots de passe de votre ordinateur n'a pas pu supprimer la clé du serveur.</translation>
    </message>
    <message>
      <source>Your computer's password store could not save the API key. Unlock it (or install one) and try again.</source>
      <translation>Le trousseau de mots de passe de votre ordinateur n'a pas pu enregistrer la clé d'API. Déverrouillez-le (ou installez-en un) et réessayez.</translation>
    </message>
    <message>
      <source>Your computer's password store could not save the Hugging Face token. Unlock it (or install one) and try again.</source>
      <translation>Le trousseau de mots de passe de votre ordinateur n'a pas pu enregistrer le jeton Hugging Face. Déverrouillez-le (ou installez-en un) et réessayez.</translation>
    </message>
    <message>
      <source>Your computer's password store could not save the server key. Unlock it (or install one) and try again.</source>
      <translation>Le trousseau de mots de passe de votre ordinateur n'a pas pu enregistrer la clé du serveur. Déverrouillez-le (ou installez-en un) et réessayez.</translation>
    </message>
  </context>
  <context>
    <name>server</name>
    <message>
      <source>'{host}' is not an address of this computer.</source>
      <translation>« {host} » n'est pas une adresse de cet ordinateur.</translation>
    </message>
    <message>
      <source>Enclave cannot listen on {address} ({reason}).</source>
      <translation>Enclave ne peut pas écouter sur {address} ({reason}).</translation>
    </message>
    <message>
      <source>Enclave cannot listen on {address}: {reason}.</source>
      <translation>Enclave ne peut pas écouter sur {address} : {reason}.</translation>
    </message>
    <message>
      <source>Port {port} is already in use on {host} (another program, or another Enclave). Choose another port.</source>
      <translation>Le port {port} est déjà utilisé sur {host} (par un autre programme ou un autre Enclave). Choisissez un autre port.</translation>
    </message>
    <message>
      <source>The API server did not start: {reason}.</source>
      <translation>Le serveur de l'API n'a pas démarré : {reason}.</translation>
    </message>
    <message>
      <source>timed out</source>
      <translation>délai dépassé</translation>
    </message>
  </context>
  <context>
    <name>server_settings</name>
    <message>
      <source>A key is saved in your computer's password store</source>
      <translation>Une clé est enregistrée dans le trousseau de mots de passe de votre ordinateur</translation>
    </message>
    <message>
      <source>Address:</source>
      <translation>Adresse :</translation>
    </message>
    <message>
      <source>Company server</source>
      <translation>Serveur de l'entreprise</translation>
    </message>
    <message>
      <source>Company server key</source>
      <translation>Clé du serveur de l'entreprise</translation>
    </message>
    <message>
      <source>Could not save the settings: {error}</source>
      <translation>Impossible d'enregistrer les paramètres : {error}</translation>
    </message>
    <message>
      <source>Documents: prepare them for search on the server</source>
      <translation>Documents : les préparer pour la recherche sur le serveur</translation>
    </message>
    <message>
      <source>Documents: prepare them for search on this computer</source>
      <translation>Documents : les préparer pour la recherche sur cet ordinateur</translation>
    </message>
    <message>
      <source>Enclave can use a model on your company's server (one that speaks the OpenAI API) instead of the model on this computer. Your messages then go to that server. Your IT department can tell you its address and give you a key.</source>
      <translation>Enclave peut utiliser un modèle sur le serveur de votre entreprise (un serveur compatible avec l'API OpenAI) au lieu du modèle de cet ordinateur. Vos messages sont alors envoyés à ce serveur. Votre service informatique peut vous indiquer son adresse et vous fournir une clé.</translation>
    </message>
    <message>
      <source>Enter the server's address first.</source>
      <translation>Saisissez d'abord l'adresse du serveur.</translation>
    </message>
    <message>
      <source>Enter the server's address first: the key is kept for that server.</source>
      <translation>Saisissez d'abord l'adresse du serveur : la clé est conservée pour ce serveur.</translation>
    </message>
    <message>
      <source>Forget key</source>
      <translation>Oublier la clé</translation>
    </message>
    <message>
      <source>Kept in your computer's password store.</source>
      <translation>Conservée dans le trousseau de mots de passe de votre ordinateur.</translation>
    </message>
    <message>
      <source>Key forgotten.</source>
      <translation>Clé oubliée.</translation>
    </message>
    <message>
      <source>Key:</source>
      <translation>Clé :</translation>
    </message>
    <message>
      <source>Model on the company server</source>
      <translation>Modèle sur le serveur de l'entreprise</translation>
    </message>
    <message>
      <source>Model:</source>
      <translation>Modèle :</translation>
    </message>
    <message>
      <source>Paste the key here (leave empty if the server needs none)</source>
      <translation>Collez la clé ici (laissez vide si le serveur n'en demande pas)</translation>
    </message>
    <message>
      <source>Press Test to see the server's models</source>
      <translation>Cliquez sur Tester pour voir les modèles du serveur</translation>
    </message>
    <message>
      <source>Test</source>
      <translation>Tester</translation>
    </message>
    <message>
      <source>Testing…</source>
      <translation>Test en cours…</translation>
    </message>
    <message>
      <source>The test failed: {error}</source>
      <translation>Le test a échoué : {error}</translation>
    </message>
    <message>
      <source>Use a server instead of this computer</source>
      <translation>Utiliser un serveur au lieu de cet ordinateur</translation>
    </message>
    <message>
      <source>With the server, your documents' text is sent to it for indexing. Changing this indexes your collections again.</source>
      <translation>Avec le serveur, le texte de vos documents lui est envoyé pour l'indexation. Modifier ce réglage réindexe vos collections.</translation>
    </message>
    <message>
      <source>Your organisation allows only these servers: {servers}.</source>
      <translation>Votre organisation n'autorise que ces serveurs : {servers}.</translation>
    </message>
    <message>
      <source>Your organisation does not allow a server: answers come from this computer only.</source>
      <translation>Votre organisation n'autorise pas de serveur : les réponses viennent uniquement de cet ordinateur.</translation>
    </message>
    <message>
      <source>✓ Key saved in your computer's password store.</source>
      <translation>✓ Clé enregistrée dans le trousseau de mots de passe de votre ordinateur.</translation>
    </message>
  </context>
  <context>
    <name>session</name>
    <message numerus="yes">
      <source>%n documents</source>
      <translation>
        <numerusform>%n document</numerusform>
        <numerusform>%n documents</numerusform>
      </translation>
    </message>
    <message numerus="yes">
      <source>%n passages</source>
      <translation>
        <numerusform>%n passage</numerusform>
        <numerusform>%n passages</numerusform>
      </translation>
    </message>
    <message>
      <source>Load a model first: open one with “Open model…”.</source>
      <translation>Chargez d'abord un modèle : ouvrez-en un avec « Ouvrir un modèle… ».</translation>
    </message>
    <message>
      <source>Looking through your documents…</source>
      <translation>Recherche dans vos documents…</translation>
    </message>
    <message>
      <source>Not all of the document was read: {reason}.</source>
      <translation>Le document n'a pas été lu en entier : {reason}.</translation>
    </message>
    <message>
      <source>Reading your question and {passages} from {documents}…</source>
      <translation>Lecture de votre question et de {passages} issus de {documents}…</translation>
    </message>
    <message>
      <source>Reading your question…</source>
      <translation>Lecture de votre question…</translation>
    </message>
    <message>
      <source>Reading {file}…</source>
      <translation>Lecture de {file}…</translation>
    </message>
    <message>
      <source>Summarise {file}</source>
      <translation>Résumer {file}</translation>
    </message>
    <message>
      <source>The disk is full: this chat could not be saved. Free some space; until then, what you see here is not kept when Enclave closes.</source>
      <translation>Le disque est plein : cette conversation n'a pas pu être enregistrée. Libérez de l'espace ; d'ici là, ce que vous voyez ici ne sera pas conservé à la fermeture d'Enclave.</translation>
    </message>
    <message>
      <source>The {count} oldest messages were left out to fit the context.</source>
      <translation>Les {count} messages les plus anciens ont été laissés de côté pour tenir dans la mémoire du modèle.</translation>
    </message>
    <message>
      <source>This chat is answered by the server {server}: your messages, and passages from documents you choose, are sent to it.</source>
      <translation>Cette conversation est traitée par le serveur {server} : vos messages, ainsi que les passages des documents que vous choisissez, lui sont envoyés.</translation>
    </message>
  </context>
  <context>
    <name>settings_page</name>
    <message>
      <source>Also list models from other apps (LM Studio, GPT4All, Ollama, Hugging Face cache)</source>
      <translation>Afficher aussi les modèles d'autres applications (LM Studio, GPT4All, Ollama, cache Hugging Face)</translation>
    </message>
    <message>
      <source>Checking…</source>
      <translation>Vérification…</translation>
    </message>
    <message>
      <source>Choose the models folder</source>
      <translation>Choisir le dossier des modèles</translation>
    </message>
    <message>
      <source>Choose…</source>
      <translation>Choisir…</translation>
    </message>
    <message>
      <source>Conversation memory:</source>
      <translation>Mémoire de conversation :</translation>
    </message>
    <message>
      <source>Could not save the settings: {error}</source>
      <translation>Impossible d'enregistrer les paramètres : {error}</translation>
    </message>
    <message>
      <source>Documents</source>
      <translation>Documents</translation>
    </message>
    <message>
      <source>How much text a conversation can hold. Larger needs more memory; Enclave lowers it automatically when a model would not fit.</source>
      <translation>La quantité de texte qu'une conversation peut contenir. Plus elle est grande, plus il faut de mémoire ; Enclave la réduit automatiquement quand un modèle ne tiendrait pas.</translation>
    </message>
    <message>
      <source>Hugging Face account</source>
      <translation>Compte Hugging Face</translation>
    </message>
    <message>
      <source>Hugging Face token</source>
      <translation>Jeton Hugging Face</translation>
    </message>
    <message>
      <source>Internet</source>
      <translation>Internet</translation>
    </message>
    <message>
      <source>Kept in your computer's password store, never in a file.</source>
      <translation>Conservé dans le trousseau de mots de passe de votre ordinateur, jamais dans un fichier.</translation>
    </message>
    <message>
      <source>Models</source>
      <translation>Modèles</translation>
    </message>
    <message>
      <source>Models folder</source>
      <translation>Dossier des modèles</translation>
    </message>
    <message>
      <source>Models folder:</source>
      <translation>Dossier des modèles :</translation>
    </message>
    <message>
      <source>No token saved. Most models do not need one.</source>
      <translation>Aucun jeton enregistré. La plupart des modèles n'en ont pas besoin.</translation>
    </message>
    <message>
      <source>Offline mode: never connect to the internet (no search, no downloads)</source>
      <translation>Mode hors ligne : ne jamais se connecter à internet (ni recherche ni téléchargement)</translation>
    </message>
    <message>
      <source>Open</source>
      <translation>Ouvrir</translation>
    </message>
    <message>
      <source>Paste your token in the box first.</source>
      <translation>Collez d'abord votre jeton dans la zone.</translation>
    </message>
    <message>
      <source>Read scanned pages and pictures (slower: a few seconds per page)</source>
      <translation>Lire les pages numérisées et les images (plus lent : quelques secondes par page)</translation>
    </message>
    <message>
      <source>Remove token</source>
      <translation>Retirer le jeton</translation>
    </message>
    <message>
      <source>Save token</source>
      <translation>Enregistrer le jeton</translation>
    </message>
    <message>
      <source>Saved.</source>
      <translation>Enregistré.</translation>
    </message>
    <message>
      <source>Settings</source>
      <translation>Paramètres</translation>
    </message>
    <message>
      <source>Some models ask you to accept their license before downloading. For those, create a “Read” token at &lt;a href="{url}"&gt;huggingface.co/settings/tokens&lt;/a&gt; and paste it here. It is kept in your computer's password store, never in a file.</source>
      <translation>Certains modèles vous demandent d'accepter leur licence avant le téléchargement. Pour ceux-là, créez un jeton « Read » sur &lt;a href="{url}"&gt;huggingface.co/settings/tokens&lt;/a&gt; et collez-le ici. Il est conservé dans le trousseau de mots de passe de votre ordinateur, jamais dans un fichier.</translation>
    </message>
    <message>
      <source>Speculative decoding: the small model writes a few words ahead and the large one checks them all at once. It needs a smaller model of the same family in the Library, and applies the next time a model is loaded. On the processor alone it would be slower, so it is not used there.</source>
      <translation>Décodage spéculatif : le petit modèle écrit quelques mots à l'avance et le grand les vérifie tous d'un coup. Il faut un modèle plus petit de la même famille dans la bibliothèque ; cela s'applique au prochain chargement d'un modèle. Sur le processeur seul ce serait plus lent, il n'y est donc pas utilisé.</translation>
    </message>
    <message>
      <source>Speed up answers with a smaller model of the same family, when the model runs on the graphics card</source>
      <translation>Accélérer les réponses avec un modèle plus petit de la même famille, quand le modèle tourne sur la carte graphique</translation>
    </message>
    <message>
      <source>Text recognition (OCR) runs on this computer; it applies the next time a folder is indexed.</source>
      <translation>La reconnaissance de texte (OCR) s'effectue sur cet ordinateur ; elle s'applique à la prochaine indexation d'un dossier.</translation>
    </message>
    <message>
      <source>That value cannot be used for this setting.</source>
      <translation>Cette valeur ne peut pas être utilisée pour ce réglage.</translation>
    </message>
    <message>
      <source>Token removed.</source>
      <translation>Jeton retiré.</translation>
    </message>
    <message>
      <source>Use a Hugging Face token another program left on this computer, for models that need an account</source>
      <translation>Utiliser un jeton Hugging Face laissé sur cet ordinateur par un autre programme, pour les modèles qui nécessitent un compte</translation>
    </message>
    <message>
      <source>Your organisation has turned off downloads: search works, downloading does not.</source>
      <translation>Votre organisation a désactivé les téléchargements : la recherche fonctionne, le téléchargement non.</translation>
    </message>
    <message>
      <source>Your organisation keeps Enclave offline: this cannot be turned off.</source>
      <translation>Votre organisation maintient Enclave hors ligne : ce réglage ne peut pas être désactivé.</translation>
    </message>
    <message>
      <source>Your organisation's models come from {folder} too. Enclave only reads that folder.</source>
      <translation>Les modèles de votre organisation proviennent aussi de {folder}. Enclave se contente de lire ce dossier.</translation>
    </message>
    <message>
      <source>✓ A token is saved in your computer's password store.</source>
      <translation>✓ Un jeton est enregistré dans le trousseau de mots de passe de votre ordinateur.</translation>
    </message>
    <message>
      <source>✓ Token saved in your computer's password store.</source>
      <translation>✓ Jeton enregistré dans le trousseau de mots de passe de votre ordinateur.</translation>
    </message>
  </context>
  <context>
    <name>speed_label</name>
    <message>
      <source>Enclave cannot predict a writing speed for this file.</source>
      <translation>Enclave ne peut pas prévoir de vitesse d'écriture pour ce fichier.</translation>
    </message>
    <message>
      <source>For a question about your documents (about {tokens} tokens to read first), the first word comes after about {time}.</source>
      <translation>Pour une question sur vos documents (environ {tokens} jetons à lire d'abord), le premier mot arrive après environ {time}.</translation>
    </message>
    <message>
      <source>Measure speed again</source>
      <translation>Remesurer la vitesse</translation>
    </message>
    <message>
      <source>Measure this computer's speed again (about 10 seconds), for example after closing other programs. The speeds shown and the recommendation follow.</source>
      <translation>Mesurer à nouveau la vitesse de cet ordinateur (environ 10 secondes), par exemple après avoir fermé d'autres programmes. Les vitesses affichées et la recommandation seront mises à jour.</translation>
    </message>
    <message>
      <source>Measuring…</source>
      <translation>Mesure en cours…</translation>
    </message>
    <message>
      <source>Predicted for this computer, from the file's size only (an estimate; the real figure comes after download):</source>
      <translation>Prévision pour cet ordinateur, d'après la taille du fichier uniquement (une estimation ; le chiffre réel sera connu après le téléchargement) :</translation>
    </message>
    <message>
      <source>Predicted for this computer, from this file's own description:</source>
      <translation>Prévision pour cet ordinateur, d'après la description de ce fichier :</translation>
    </message>
    <message>
      <source>Speed here</source>
      <translation>Vitesse ici</translation>
    </message>
    <message>
      <source>That is slow here (comfortable: at least {tokens_per_second} tokens a second and the first word within {seconds} s).</source>
      <translation>C'est lent ici (confortable : au moins {tokens_per_second} jetons par seconde et le premier mot en moins de {seconds} s).</translation>
    </message>
    <message>
      <source>This computer's speed could not be measured.</source>
      <translation>La vitesse de cet ordinateur n'a pas pu être mesurée.</translation>
    </message>
    <message>
      <source>This computer's speed is being measured (a few seconds, once).</source>
      <translation>Mesure de la vitesse de cet ordinateur en cours (quelques secondes, une seule fois).</translation>
    </message>
    <message>
      <source>Too large for this computer, so no speed to predict.</source>
      <translation>Trop volumineux pour cet ordinateur : aucune vitesse à prévoir.</translation>
    </message>
    <message>
      <source>Unknown</source>
      <translation>Inconnue</translation>
    </message>
    <message numerus="yes">
      <source>about %n words a second</source>
      <translation>
        <numerusform>environ %n mot par seconde</numerusform>
        <numerusform>environ %n mots par seconde</numerusform>
      </translation>
    </message>
    <message>
      <source>less than a word a second</source>
      <translation>moins d'un mot par seconde</translation>
    </message>
    <message>
      <source>under a second</source>
      <translation>moins d'une seconde</translation>
    </message>
    <message>
      <source>writes about {tokens_per_second} tokens a second, which is about {words_per_second} words a second (words ≈ tokens × 0.75: a model writes in pieces of words called tokens).</source>
      <translation>écrit environ {tokens_per_second} jetons par seconde, soit environ {words_per_second} mots par seconde (mots ≈ jetons × 0,75 : un modèle écrit par morceaux de mots appelés jetons).</translation>
    </message>
    <message>
      <source>{minutes} min</source>
      <translation>{minutes} min</translation>
    </message>
    <message>
      <source>{seconds} s</source>
      <translation>{seconds} s</translation>
    </message>
    <message>
      <source>{speed} · first word after {time}</source>
      <translation>{speed} · premier mot après {time}</translation>
    </message>
  </context>
  <context>
    <name>store</name>
    <message>
      <source>New chat</source>
      <translation>Nouvelle conversation</translation>
    </message>
  </context>
  <context>
    <name>summarise</name>
    <message>
      <source>Combining the summaries of {file} ({part} of {parts})…</source>
      <translation>Fusion des résumés de {file} ({part} sur {parts})…</translation>
    </message>
    <message>
      <source>Reading {file}: part {part} of {parts}…</source>
      <translation>Lecture de {file} : partie {part} sur {parts}…</translation>
    </message>
    <message>
      <source>The model's context ({tokens} tokens) is too small to read a document in parts.</source>
      <translation>La mémoire du modèle ({tokens} jetons) est trop petite pour lire un document par parties.</translation>
    </message>
    <message>
      <source>The summaries of this document do not fit the model's context.</source>
      <translation>Les résumés de ce document ne tiennent pas dans la mémoire du modèle.</translation>
    </message>
    <message>
      <source>Writing the summary of {file}…</source>
      <translation>Rédaction du résumé de {file}…</translation>
    </message>
  </context>
  <context>
    <name>template_guard</name>
    <message>
      <source>This model's chat template calls itself without end (format the conversation stopped).</source>
      <translation>Le gabarit de conversation de ce modèle s'appelle lui-même sans fin (la mise en forme de la conversation a été arrêtée).</translation>
    </message>
    <message>
      <source>This model's chat template calls itself without end (load stopped).</source>
      <translation>Le gabarit de conversation de ce modèle s'appelle lui-même sans fin (le chargement a été arrêté).</translation>
    </message>
    <message>
      <source>This model's chat template failed to format the conversation: {reason}</source>
      <translation>Le gabarit de conversation de ce modèle n'a pas pu mettre en forme la conversation : {reason}</translation>
    </message>
    <message>
      <source>This model's chat template failed to load: {reason}</source>
      <translation>Le gabarit de conversation de ce modèle n'a pas pu être chargé : {reason}</translation>
    </message>
    <message>
      <source>This model's chat template made a prompt of {count} characters from this conversation; the template is broken or hostile.</source>
      <translation>Le gabarit de conversation de ce modèle a produit à partir de cette conversation une invite de {count} caractères ; le gabarit est défectueux ou malveillant.</translation>
    </message>
    <message>
      <source>This model's chat template needs more memory than this computer has to format the conversation.</source>
      <translation>Le gabarit de conversation de ce modèle a besoin de plus de mémoire que n'en a cet ordinateur pour mettre en forme la conversation.</translation>
    </message>
    <message>
      <source>This model's chat template needs more memory than this computer has to load.</source>
      <translation>Le gabarit de conversation de ce modèle a besoin de plus de mémoire que n'en a cet ordinateur pour être chargé.</translation>
    </message>
    <message>
      <source>This model's chat template took longer than {seconds} seconds to format the conversation and was stopped; the template is broken or hostile.</source>
      <translation>Le gabarit de conversation de ce modèle a mis plus de {seconds} secondes à mettre en forme la conversation et a été arrêté ; le gabarit est défectueux ou malveillant.</translation>
    </message>
    <message>
      <source>This model's chat template took longer than {seconds} seconds to load and was stopped; the template is broken or hostile.</source>
      <translation>Le gabarit de conversation de ce modèle a mis plus de {seconds} secondes à se charger et a été arrêté ; le gabarit est défectueux ou malveillant.</translation>
    </message>
  </context>
  <context>
    <name>token_question</name>
    <message>
      <source>Another program on this computer has left a Hugging Face token (a sign-in) in {place}. Should Enclave use it?</source>
      <translation>Un autre programme de cet ordinateur a laissé un jeton Hugging Face (un identifiant de connexion) dans {place}. Enclave doit-il l'utiliser ?</translation>
    </message>
    <message>
      <source>Don't use it</source>
      <translation>Ne pas l'utiliser</translation>
    </message>
    <message>
      <source>Enclave does not use it unless you say so. If you do, Enclave sends it only to Hugging Face, and only for models that need an account (models whose license you accepted there). Searches never carry it. You can also save a token of your own in Settings.</source>
      <translation>Enclave ne l'utilise pas sans votre accord. Si vous acceptez, Enclave l'envoie uniquement à Hugging Face, et seulement pour les modèles qui nécessitent un compte (ceux dont vous avez accepté la licence sur le site). Les recherches ne l'envoient jamais. Vous pouvez aussi enregistrer votre propre jeton dans les Paramètres.</translation>
    </message>
    <message>
      <source>Use it</source>
      <translation>L'utiliser</translation>
    </message>
    <message>
      <source>Use your Hugging Face sign-in from another program?</source>
      <translation>Utiliser votre connexion Hugging Face d'un autre programme ?</translation>
    </message>
  </context>
  <context>
    <name>tokens</name>
    <message>
      <source>the file {path}</source>
      <translation>le fichier {path}</translation>
    </message>
    <message>
      <source>the {name} environment variable</source>
      <translation>la variable d'environnement {name}</translation>
    </message>
  </context>
  <context>
    <name>tool_calls</name>
    <message>
      <source>tool_choice names the tool '{name}', which is not in tools.</source>
      <translation>tool_choice désigne l'outil « {name} », qui ne figure pas dans tools.</translation>
    </message>
  </context>
</TS>