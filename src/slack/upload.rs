//! Files to a channel: the external upload flow.

use serde_json::Value;

use super::DEFAULT_PAUSE;
use super::client::{SlackClient, WebApiBody};
use crate::domain::slack_text;
use crate::engine::DeliveryContext;
use crate::engine::outbound::Body;
use crate::error::DeliveryError;

/// A file to upload to a channel.
pub struct FileUpload<'a> {
    pub file_name: &'a str,
    pub title: &'a str,
    pub bytes: &'a [u8],
    pub comment: &'a str,
}

impl SlackClient {
    /// Uploads a file to one channel with the external upload flow
    /// (`files.getUploadURLExternal`, the bytes, then
    /// `files.completeUploadExternal`), in the channel's pace.
    pub async fn upload(
        &self,
        context: &DeliveryContext,
        channel: &str,
        file: &FileUpload<'_>,
    ) -> Result<(), DeliveryError> {
        let channel_id = self.channel_id(context, channel).await?;
        let form = [
            ("filename", file.file_name.to_owned()),
            ("length", file.bytes.len().to_string()),
        ];
        let answer = self
            .web_api(
                context,
                "files.getUploadURLExternal",
                WebApiBody::Form(&form),
            )
            .await?;
        let (Some(upload_url), Some(file_id)) =
            (answer["upload_url"].as_str(), answer["file_id"].as_str())
        else {
            return Err(DeliveryError::permanent(
                "Slack files.getUploadURLExternal answered without upload_url or file_id",
            ));
        };
        let request = context.http.post(upload_url);
        let stored = context
            .send(
                request,
                Body::Bytes(
                    actix_web::web::Bytes::copy_from_slice(file.bytes),
                    "application/octet-stream",
                ),
                DEFAULT_PAUSE,
            )
            .await
            .map_err(|error| error.delivery_error("uploading the report"))?;
        if stored.status.as_u16() != 200 {
            return Err(DeliveryError::permanent(format!(
                "uploading the report: HTTP {}",
                stored.status.as_u16()
            )));
        }
        // Completing the upload posts to the channel: it takes a turn.
        self.take_turn(context, channel).await?;
        let body = complete_upload_body(file_id, file.title, &channel_id, file.comment);
        self.web_api(
            context,
            "files.completeUploadExternal",
            WebApiBody::Json(&body),
        )
        .await?;
        Ok(())
    }
}

/// The `files.completeUploadExternal` body.
pub fn complete_upload_body(file_id: &str, title: &str, channel_id: &str, comment: &str) -> Value {
    serde_json::json!({
        "files": [{"id": file_id, "title": title}],
        "channel_id": channel_id,
        "initial_comment": slack_text::truncated(comment, slack_text::MESSAGE_TEXT_LIMIT),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_completion_body() {
        assert_eq!(
            complete_upload_body("F1", "T", "C1", "c"),
            serde_json::json!({"files": [{"id": "F1", "title": "T"}], "channel_id": "C1", "initial_comment": "c"})
        );
    }
}
